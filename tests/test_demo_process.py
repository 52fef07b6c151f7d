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
        state = poll(lambda: (s := call(f"{base}/api/summaries/{job['job_id']}"))["status"] == "finished" and s, 180)
        assert isinstance(state["summary"], str) and state["summary_id"]
        assert call(f"{base}/api/feedback", {"summary_id": state["summary_id"], "rating": 1, "voter": "me"})["ok"]
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
    output = demo.stdout.read().decode() if demo.stdout else ""
    assert "private in-memory Redis" in output
    assert "Lunch at noon" not in output  # no message text in any log
