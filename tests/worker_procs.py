"""Helpers for tests that run `python -m recap worker` as real processes against real Redis servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from bot.queue import SummaryJob
from config.settings import Settings


def wait_until(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except RedisError:
            pass
        time.sleep(step)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ, RECAP_REDIS_URL=settings.redis_url, RECAP_STORE_URL=settings.store_url,
               RECAP_MODEL=settings.model, RECAP_MAX_NEW_TOKENS=str(settings.max_new_tokens),
               RECAP_SLACK_BOT_TOKEN="xoxb-test", RECAP_SLACK_API_URL=settings.slack_api_url,
               RECAP_RETRY_INTERVALS_S="[1, 1]", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def start_worker(env: dict[str, str], cwd: Path, *args: str, log_name: str = "worker.log") -> subprocess.Popen[bytes]:
    log = open(cwd / log_name, "ab")  # noqa: SIM115 - the process owns it until it exits
    return subprocess.Popen([sys.executable, "-m", "recap", "worker", *args], env=env, cwd=cwd,
                            stdout=log, stderr=subprocess.STDOUT)


def run_burst(env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run([sys.executable, "-m", "recap", "worker", "--burst"], env=env, cwd=cwd,
                          capture_output=True, timeout=timeout)
    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, output[-3000:]
    return output


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc), e.g. a forked scheduler left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def slack_job(request_id: str, text: str = "hello there", **extra: Any) -> SummaryJob:
    return SummaryJob(request_id=request_id, platform="slack", workspace="T1", channel="C1", requester="U1",
                      public=True, message_count=2, dialogue=f"#Person1#: {text}\n#Person2#: hi, fine thanks",
                      speakers={"#Person1#": "Alice", "#Person2#": "Bob"}, **extra)


def assert_no_text_left(connection: Redis, marker: str) -> None:
    """Every job hash has a TTL, and no failed job keeps the conversation text."""
    for key in connection.scan_iter("rq:job:*"):
        if connection.type(key) != b"hash":
            continue
        assert connection.ttl(key) != -1, f"{key!r} has no TTL"
        if connection.hget(key, "status") == b"failed":
            data = connection.hget(key, "data") or b""
            import zlib

            try:
                data = zlib.decompress(data)
            except zlib.error:
                pass
            assert marker.encode() not in data, f"failed job {key!r} still holds the dialogue"


class RedisServer:
    """A redis-server of the test's own (AOF on, in a temporary folder), to stop and start at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis(port=self.port)
        assert wait_until(client.ping, 10), "redis-server did not start"
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None


class TcpProxy:
    """A TCP forwarder to a real server, to cut (``stop``) and restore (``start``) the path to it."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and drop every open one (as a network cut or a database restart does)."""
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread; close alone does not
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
