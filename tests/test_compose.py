"""docker-compose.yml parses with a real Compose parser and has what operators rely on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

compose_spec = pytest.importorskip("compose_spec")
COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def parse(document: dict[str, Any]) -> dict[str, Any]:
    """YAML anchors and merge keys are resolved by the YAML loader, as Compose does; the spec parser checks the rest."""
    return compose_spec.PyCompose.from_json(json.dumps(document)).to_dict()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return parse(yaml.safe_load(COMPOSE.read_text()))


def test_compose_parses_with_the_expected_services(compose: dict[str, Any]) -> None:
    assert {"redis", "postgres", "worker", "playground", "slack", "discord", "scheduler"} <= set(compose["services"])


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_redis_keeps_jobs(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def test_worker_reserves_a_gpu_and_shares_the_model_cache(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    for name in ("worker", "playground"):
        volumes = [str(v.get("source") if isinstance(v, dict) else v) for v in compose["services"][name]["volumes"]]
        assert any(v.startswith("models") for v in volumes), volumes


def test_invalid_compose_is_rejected() -> None:
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["redis"]["healthcheck"]["interval"] = {"not": "a duration"}
    with pytest.raises(ValueError):
        parse(broken)
