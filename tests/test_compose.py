"""docker-compose.yml and the Dockerfile parse and have what operators rely on (a real Compose-spec parser)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

compose_spec = pytest.importorskip("compose_spec")
ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
RECAP_SERVICES = {"worker", "worker-gpu", "playground", "slack", "discord", "scheduler"}
WORKERS = ("worker", "worker-gpu")
ONE_SHOT = {"migrate"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(node: Any) -> Any:
    """Compose substitutes ${VAR:-default} in every string before it validates the file; so does this."""
    if isinstance(node, dict):
        return {key: interpolate(value) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value) for value in node]
    if isinstance(node, str):
        return _VARIABLE.sub(lambda match: os.environ.get(match[1]) or match[2] or "", node)
    return node


def parse(document: dict[str, Any]) -> dict[str, Any]:
    """YAML anchors and merge keys are resolved by the YAML loader, as Compose does; the spec parser checks the rest."""
    return compose_spec.PyCompose.from_json(json.dumps(interpolate(document))).to_dict()


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return parse(yaml.safe_load(COMPOSE.read_text()))


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return compose["services"][name]


def test_compose_parses_with_the_expected_services(compose: dict[str, Any]) -> None:
    assert {"redis", "postgres", "migrate"} | RECAP_SERVICES <= set(compose["services"])


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if name in ONE_SHOT:
            assert spec["restart"] == "no", f"{name} runs once"
            continue
        assert spec.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_redis_keeps_jobs(compose: dict[str, Any]) -> None:
    command = " ".join(service(compose, "redis")["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def test_store_is_migrated_once_before_every_recap_service(compose: dict[str, Any]) -> None:
    assert service(compose, "migrate")["command"] == ["recap", "store", "upgrade"]
    for name in RECAP_SERVICES:
        assert service(compose, name)["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_worker_health_check_is_this_containers_heartbeat(compose: dict[str, Any]) -> None:
    for name in WORKERS:
        assert service(compose, name)["healthcheck"]["test"] == ["CMD", "python", "-m", "worker.health"]


def test_workers_get_longer_than_a_job_to_stop(compose: dict[str, Any]) -> None:
    for name in WORKERS:
        spec = service(compose, name)
        assert seconds(spec["stop_grace_period"]) > float(spec["environment"]["RECAP_JOB_TIMEOUT_S"]), name


def test_gpu_profile_worker_runs_ctranslate2_on_a_reserved_gpu(compose: dict[str, Any]) -> None:
    gpu = service(compose, "worker-gpu")
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["target"] == "gpu"
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["environment"]["RECAP_BACKEND"] == "ctranslate2" and gpu["environment"]["RECAP_COMPUTE_TYPE"] == "auto"
    assert "deploy" not in service(compose, "worker")  # the default stack runs on a machine without a GPU


def test_slack_http_port_is_published(compose: dict[str, Any]) -> None:
    slack = service(compose, "slack")
    assert slack["environment"]["RECAP_SLACK_PORT"] == "3000"
    assert any(str(port).endswith(":3000") for port in slack["ports"])


def test_data_and_model_volumes_are_mounted(compose: dict[str, Any]) -> None:
    for name in RECAP_SERVICES | ONE_SHOT:
        volumes = [str(v.get("source") if isinstance(v, dict) else v) for v in service(compose, name)["volumes"]]
        assert "models:/models" in volumes and "data:/data" in volumes, (name, volumes)


def test_invalid_compose_is_rejected() -> None:
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["redis"]["healthcheck"]["interval"] = {"not": "a duration"}
    with pytest.raises(ValueError):
        parse(broken)


def test_dockerfile_pins_the_tested_torch() -> None:
    ci_torch = re.search(r"torch==([\d.]+)", (ROOT / ".ci" / "run").read_text())
    assert ci_torch is not None
    assert f"ARG TORCH_VERSION={ci_torch[1]}" in DOCKERFILE
    assert DOCKERFILE.count('pip install "torch==${TORCH_VERSION}"') == 2  # both images
    assert "torch>=" not in DOCKERFILE


def test_dockerfile_stages_and_writable_paths() -> None:
    stages = dict((name, base) for base, name in re.findall(r"^FROM (\S+) AS (\w+)$", DOCKERFILE, re.MULTILINE))
    assert set(stages) == {"cpu", "gpu"}
    assert re.fullmatch(r"nvidia/cuda:12\.[\d.]+-cudnn-runtime-ubuntu[\d.]+", stages["gpu"])  # cuDNN 9 for CT2 4.x
    assert DOCKERFILE.rstrip().endswith('CMD ["recap", "--help"]')
    for stage in DOCKERFILE.split("\nFROM ")[1:]:
        assert "chown recap:recap /data /models" in stage and "USER recap" in stage and "WORKDIR /data" in stage
        assert stage.index("USER recap") < stage.rindex("WORKDIR /data")  # the working directory is recap's
