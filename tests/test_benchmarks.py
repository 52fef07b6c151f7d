"""The benchmark scripts still run: each one end to end on the tiny T5 with the smallest workload.

Their figures are read by people (the issue notes, the README), so a script that rots silently is a defect;
this checks that they run and print their table, never how fast anything is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _bench(script: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECAP_CACHE_DIR": str(tmp_path / "cache"), "RECAP_STORE_URL": f"sqlite:///{tmp_path}/b.db"}
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=tmp_path)


def test_bench_serving_prints_its_ratio_table(tiny_model: Path, tmp_path: Path) -> None:
    done = _bench("bench_serving.py", "--model", str(tiny_model), "--dialogues", "2", "--new-tokens", "4",
                  "--skip-worker", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the seed's loop" in done.stdout and "CTranslate2 int8, batch" in done.stdout


def test_bench_runtime_runs_both_backends(tiny_model: Path, tmp_path: Path) -> None:
    for backend in ("transformers", "ctranslate2"):
        done = _bench("bench_runtime.py", "--model", str(tiny_model), "--dialogues", "2", "--batch-sizes", "1", "2",
                      "--max-new-tokens", "4", "--repeats", "1", "--backend", backend, tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]


def test_bench_worker_and_bench_training_run(tiny_model: Path, tmp_path: Path, redis_conn: Redis) -> None:
    db = redis_conn.connection_pool.connection_kwargs["db"]  # the test database, flushed around the test
    worker = _bench("bench_worker.py", "--model", str(tiny_model), "--jobs", "2", "--rounds", "1",
                    "--redis-db", str(db), tmp_path=tmp_path)
    assert worker.returncode == 0, worker.stderr[-2000:]
    training = _bench("bench_training.py", "--model", str(tiny_model), "--steps", "2", "--warmup", "1",
                      "--batch-size", "2", "--json", tmp_path=tmp_path)
    assert training.returncode == 0, training.stderr[-2000:]
