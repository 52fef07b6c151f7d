"""`recap demo` as a user runs it on a fresh machine: no Redis at the configured URL, one command."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def poll(predicate, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    raise AssertionError("timed out")


def kill_worker(demo_pid: int) -> None:
    import psutil

    [worker] = [child for child in psutil.Process(demo_pid).children() if "worker" in child.cmdline()]
    worker.kill()


def test_demo_starts_what_it_needs_and_summarizes(tiny_model: Path, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, RECAP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
               RECAP_STORE_URL=f"sqlite:///{tmp_path / 'demo.db'}", RECAP_MAX_NEW_TOKENS="8")
    demo = subprocess.Popen([sys.executable, "-m", "recap", "demo", "--model", str(tiny_model), "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: call(f"{base}/api/health")["ok"], 60)
        job = call(f"{base}/api/summaries", {"text": "Ann: Lunch at noon?\nBen: Yes, see you there.",
                                             "request_key": "demo1"})
        state = poll(lambda: (s := call(f"{base}/api/summaries/{job['job_id']}"))["status"] == "done" and s, 180)
        assert isinstance(state["summary"], str) and state["summary_id"]
        assert state["answered_by"]["model"] == str(tiny_model) and state["answered_by"]["random_test_model"]
        assert call(f"{base}/api/feedback", {"summary_id": state["summary_id"], "rating": 1, "voter": "me"})["ok"]
        assert call(f"{base}/api/health")["worker"]["state"] == "ready"

        kill_worker(demo.pid)  # a worker that dies later: the page says so, with the reason
        health = poll(lambda: (h := call(f"{base}/api/health"))["worker"]["state"] == "stopped" and h, 30)
        assert "exit status" in health["worker"]["reason"]
        late = call(f"{base}/api/summaries", {"text": "Ann: Still there?\nBen: No.", "request_key": "demo2"})
        late_state = call(f"{base}/api/summaries/{late['job_id']}")
        assert late_state["status"] == "failed" and "worker process stopped" in late_state["error"]
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
    output = demo.stdout.read().decode() if demo.stdout else ""
    assert "private in-memory Redis" in output
    assert output.index("Loading the model") < output.index("Recap playground: http")
    assert "Lunch at noon" not in output  # no message text in any log


def test_demo_with_a_missing_model_says_the_offline_route_before_serving(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "recap", "demo", "--model", str(tmp_path / "no-such-model"),
                           "--port", str(free_port())], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert "http://" not in done.stdout  # no URL for a page that could never answer
    assert "RECAP_MODEL" in done.stderr and "no-such-model" in done.stderr and "Traceback" not in done.stderr
    assert "recap model tiny ./tiny-t5" in done.stderr and "--model ./tiny-t5" in done.stderr


def test_demo_whose_worker_cannot_load_the_model_exits_before_serving(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")  # looks like a model folder; only loading it shows otherwise
    env = dict(os.environ, RECAP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               RECAP_STORE_URL=f"sqlite:///{tmp_path / 'demo.db'}")
    done = subprocess.run([sys.executable, "-m", "recap", "demo", "--model", str(broken), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert "http://" not in done.stdout and "Traceback" not in done.stderr
    assert "The worker process stopped" in done.stderr and "recap model tiny" in done.stderr
