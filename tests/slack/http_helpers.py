"""HTTP mode in tests: the real Starlette app under a real uvicorn server, on a free local port."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from slack_bolt import App

from bot.slack_app.server import EVENTS_PATH, asgi_app

SIGNING_SECRET = "secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: App, health: object = None) -> Iterator[int]:
    """Serve ``app`` as `recap slack --mode http` does; yields the port."""
    port = free_port()
    config = uvicorn.Config(asgi_app(app, SIGNING_SECRET, health), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def signed_headers(body: bytes, content_type: str, timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    base = b"v0:" + timestamp.encode() + b":" + body  # https://api.slack.com/authentication/verifying-requests-from-slack
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def post(port: int, body: bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, str, float]:
    """POST to /slack/events on a fresh connection: status, body text, seconds until the answer."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", EVENTS_PATH, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace"), time.perf_counter() - started
    finally:
        connection.close()


def post_signed(port: int, body: str | bytes, content_type: str = "application/x-www-form-urlencoded",
                **kwargs: str) -> tuple[int, str, float]:
    data = body.encode() if isinstance(body, str) else body
    return post(port, data, signed_headers(data, content_type, **kwargs))


@contextmanager
def idle_connection(port: int) -> Iterator[socket.socket]:
    """A client that connects and sends half a request, then nothing (a slow or stuck client)."""
    idle = socket.create_connection(("127.0.0.1", port))
    idle.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
    try:
        yield idle
    finally:
        idle.close()
