"""HTTP plumbing of the Slack Web API fake: one request handler bound to a FakeSlackAPI."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from fakes.slack_api import FakeSlackAPI


def _parse_body(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length).decode() if length else ""
    if not raw:
        return {}
    if "json" in (handler.headers.get("Content-Type") or ""):
        return json.loads(raw)
    params: dict[str, Any] = dict(parse_qsl(raw))
    for key in ("blocks", "attachments"):  # form-encoded calls send these as JSON strings
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


def handler_for(fake: FakeSlackAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _send(self, status: int, body: str, content_type: str, headers: dict[str, str]) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            if parts.path.startswith("/upload/"):  # raw file bytes, whatever the Content-Type says
                length = int(self.headers.get("Content-Length") or 0)
                fake.upload_post(parts.path.rsplit("/", 1)[-1], self.rfile.read(length))
                self._send(200, "OK - 0", "text/plain", {})
                return
            params: dict[str, Any] = dict(parse_qsl(parts.query))
            params.update(_parse_body(self))
            if parts.path.startswith("/response/"):
                status, text = fake.response_post(parts.path.rsplit("/", 1)[-1], params)
                self._send(status, text, "text/plain", {})
                return
            method = parts.path.removeprefix("/api/")
            status, body, headers = fake.handle(method, params)
            if fake.drops_response(method):
                self.close_connection = True  # handled, but the client gets no answer
                return
            self._send(status, json.dumps(body), "application/json", headers)

        do_GET = _dispatch
        do_POST = _dispatch

    return Handler
