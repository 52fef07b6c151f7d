"""A local HTTP fake of the parts of Discord's REST API that Recap uses.

The real discord.py client (bot side) and the real requests-based deliverer (worker side) talk to
it over HTTP, so tests exercise the actual payloads. It runs in its own thread, because the worker
is synchronous and runs inline in the test's thread. Every request is recorded with its JSON body.

Served (the handlers live in fakes.discord_routes): users/@me, oauth2/applications/@me, command
sync, channel history with Discord's pagination (before / after / around / limit, newest first),
channel posts (honouring ``enforce_nonce``), DMs, reactions, interaction callbacks, follow-up webhooks
(JSON, or multipart with attachments), guild roles and channels, one channel (GET /channels/{id},
from ``guild_channels``), one message, and threads (``threads``: the active ones per guild, the
archived public ones per parent channel, newest archive first), guild members (``members``: nicknames),
the interaction's original response (created by the callback, edited by PATCH ``@original``), and
deleted channels (``deleted_channels``: 404 code 10003). Failures can be injected: an error status
(``fail_once``), a request served whose answer is lost (``drop_response_once``), or a rate limit
(``rate_limit``) answered the way https://discord.com/developers/docs/topics/rate-limits shows: 429 with
``retry_after`` / ``global`` in the body and the ``Retry-After``, ``X-RateLimit-*`` headers, until the
limit ends on the fake's clock (``advance`` moves it on, so tests need not sleep).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fakes.discord_routes import APPLICATION_ID, LOADING, PREFIX, DiscordRoutes, Recorded, member, user

__all__ = ["APPLICATION_ID", "PREFIX", "Failure", "FakeDiscord", "Limit", "Recorded", "member", "user"]


@dataclass
class Failure:
    """Answer the next request matching ``method`` / ``pattern`` with ``status``, after ``skip`` pass.

    With ``drop``, the request is served as usual (a post is accepted) but its answer is lost: the
    connection closes without a response, as when a network hop fails after Discord did the work.
    """

    method: str
    pattern: str
    status: int
    payload: Any
    skip: int = 0
    drop: bool = False
    applied: bool = True  # with ``drop``: whether Discord did the work before the answer was lost


@dataclass
class Limit:
    """Every request matching ``method`` / ``pattern`` gets a 429 until ``until`` (the fake's clock)."""

    method: str
    pattern: str
    until: float
    scope: str = "user"
    is_global: bool = False

    def answer(self, now: float) -> tuple[int, Any, dict[str, str]]:
        # Copied from the 429 examples of https://discord.com/developers/docs/topics/rate-limits
        wait = round(self.until - now, 3)
        headers = {
            "Retry-After": str(math.ceil(wait)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{self.until:.3f}",
            "X-RateLimit-Reset-After": f"{wait:.3f}",
            "X-RateLimit-Bucket": "fake" + str(abs(hash(self.pattern)) % 10**8),
            "X-RateLimit-Scope": "global" if self.is_global else self.scope,
            "Via": "1.1 google",  # Discord's own 429s pass its proxy; a 429 without it is a Cloudflare ban
        }
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        return 429, {"message": "You are being rate limited.", "retry_after": wait, "global": self.is_global}, headers


class FakeDiscord(DiscordRoutes):
    """State (channels and their messages) plus the log of requests; see the module docstring."""

    def __init__(self) -> None:
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[Recorded] = []
        self.roles: list[dict[str, Any]] = []
        self.guild_channels: list[dict[str, Any]] = []
        self.threads: list[dict[str, Any]] = []  # thread channels (with parent_id, thread_metadata)
        self.expired_tokens: set[str] = set()
        self.closed_dms: set[str] = set()
        self.answered: set[str] = set()  # interaction ids already acknowledged
        self.dm_channels: dict[str, str] = {}  # DM channel id -> recipient id
        self.token_channels: dict[str, int] = {}  # interaction token -> its channel (set by the tests)
        self.posted: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages the bot posted there
        self.nonces: dict[str, dict[str, Any]] = {}  # enforced nonce -> the message it created
        self.originals: dict[str, dict[str, Any]] = {}  # interaction token -> its original response message
        self.token_followups: dict[str, list[dict[str, Any]]] = {}  # interaction token -> its follow-ups
        self.members: dict[str, dict[str, Any]] = {}  # user id -> guild member (nick) for GET members/{id}
        self.deleted_channels: set[str] = set()  # channels that answer 404 Unknown Channel (10003)
        self.bot_user = user(999, "Recap", bot=True)
        self.application_flags = 1 << 18  # GATEWAY_MESSAGE_CONTENT
        self.failures: list[Failure] = []
        self.limits: list[Limit] = []
        self.clock_offset = 0.0  # `advance` moves the fake's clock on, ending rate limits without sleeping
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # Life cycle

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # Test helpers

    def add_message(
        self, channel_id: int, author: dict[str, Any], content: str, at: datetime, **extra: Any
    ) -> dict[str, Any]:
        """Put a message in a channel's history (what /summarize reads)."""
        message = self.message(channel_id, author, content, at, **extra)
        with self._lock:
            self.messages.setdefault(channel_id, []).append(message)
            self.messages[channel_id].sort(key=lambda m: int(m["id"]))
        return message

    def deferred(self, token: str, channel_id: int | str, *, ephemeral: bool = False) -> dict[str, Any]:
        """An interaction answered with a deferral ("thinking..."), for tests that call the deliverer directly."""
        self.token_channels[token] = int(channel_id)
        flags = LOADING | (64 if ephemeral else 0)
        self.originals[token] = self._new_bot_message(token, "", flags)
        return self.originals[token]

    def fail_once(self, method: str, pattern: str, status: int, payload: Any = None, *, skip: int = 0) -> None:
        """Make one request fail: e.g. a 500 on the 2nd follow-up (``skip=1``), or a 429."""
        body = payload if payload is not None else {"message": f"injected HTTP {status}", "code": 0}
        self.failures.append(Failure(method, pattern, status, body, skip))

    def drop_response_once(self, method: str, pattern: str, *, skip: int = 0, applied: bool = True) -> None:
        """Serve one matching request (e.g. accept a post) but lose its answer: the client sees a reset.

        With ``applied=False`` the request is lost on its way in: nothing is done, and no answer comes.
        """
        self.failures.append(Failure(method, pattern, 0, None, skip, drop=True, applied=applied))

    def rate_limit(
        self, method: str, pattern: str, seconds: float, *, scope: str = "user", is_global: bool = False
    ) -> None:
        """Answer every matching request (all requests, if global) with 429 for the next ``seconds``."""
        self.limits.append(Limit(method, pattern, self.now() + seconds, scope, is_global))

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        self.clock_offset += seconds

    def limited(self, r: Recorded) -> Limit | None:
        now = self.now()
        for limit in self.limits:
            hit = limit.is_global or (limit.method == r.method and re.fullmatch(limit.pattern, r.path))
            if hit and limit.until > now:
                return limit
        return None

    def _injected(self, r: Recorded) -> Failure | None:
        for failure in self.failures:
            if failure.method == r.method and re.fullmatch(failure.pattern, r.path):
                if failure.skip:
                    failure.skip -= 1
                    return None
                self.failures.remove(failure)
                return failure
        return None

    def succeeded(self, records: list[Recorded]) -> list[Recorded]:
        return [r for r in records if 200 <= r.status < 300]

    def find(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def history_requests(self, channel_id: int) -> list[Recorded]:
        return self.find("GET", rf"/channels/{channel_id}/messages")

    def callbacks(self) -> list[Recorded]:
        return self.find("POST", r"/interactions/\d+/[^/]+/callback")

    def followups(self) -> list[Recorded]:
        return self.find("POST", r"/webhooks/\d+/[^/]+")

    def original_edits(self) -> list[Recorded]:
        return self.find("PATCH", r"/webhooks/\d+/[^/]+/messages/@original")

    def answers(self) -> list[Recorded]:
        """Everything sent through interaction webhooks, in order: original-response edits and follow-ups."""
        followup, original = r"/webhooks/\d+/[^/]+", r"/webhooks/\d+/[^/]+/messages/@original"
        return [
            r for r in self.requests
            if (r.method == "POST" and re.fullmatch(followup, r.path))
            or (r.method == "PATCH" and re.fullmatch(original, r.path))
        ]

    def seen_by_user(self, token: str) -> list[dict[str, Any]]:
        """The messages an interaction's user can see: its original response (once it has text), then follow-ups."""
        original = self.originals.get(token)
        shown = [original] if original and (original.get("content") or original.get("components")) else []
        return shown + self.token_followups.get(token, [])

    def channel_posts(self, channel_id: int | str) -> list[Recorded]:
        return self.find("POST", rf"/channels/{channel_id}/messages")

    def reactions(self) -> list[Recorded]:
        return self.find("PUT", r"/channels/\d+/messages/\d+/reactions/.+/@me")

    # Serving

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path).removeprefix(PREFIX)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type") or ""
        body, files = _multipart(raw, content_type) if "multipart" in content_type else (None, [])
        if raw and "json" in content_type:
            body = json.loads(raw)
        record = Recorded(handler.command, path, query, body, dict(handler.headers.items()), files)
        with self._lock:
            self.requests.append(record)
            limit = self.limited(record)
            injected = None if limit else self._injected(record)
        headers: dict[str, str] = {}
        if limit is not None:
            status, payload, headers = limit.answer(self.now())
        elif injected is not None and not injected.drop:
            status, payload = injected.status, injected.payload
        elif injected is not None and not injected.applied:
            status, payload = 0, None
        else:
            status, payload = self._route(record)
        record.status = status
        if injected is not None and injected.drop:
            handler.close_connection = True  # served, but no answer is written: the client sees a reset
            return
        _answer(handler, status, payload, headers)


def _answer(handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]) -> None:
    data = b"" if payload is None else json.dumps(payload).encode()
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    if payload is not None:
        handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _multipart(raw: bytes, content_type: str) -> tuple[Any, list[tuple[str, bytes]]]:
    """discord.py's multipart form: the JSON body in ``payload_json``, then one part per file."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    body, files = None, []
    for part in message.iter_parts():
        data = part.get_payload(decode=True) or b""
        if part.get_param("name", header="content-disposition") == "payload_json":
            body = json.loads(data)
        elif part.get_filename():
            files.append((part.get_filename(), data))
    return body, files
