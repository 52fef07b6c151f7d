"""A local HTTP fake of the parts of Discord's REST API that Recap uses.

The real discord.py client (bot side) and the real requests-based deliverer (worker side) talk to
it over HTTP, so tests exercise the actual payloads. It runs in its own thread, because the worker
is synchronous and runs inline in the test's thread. Every request is recorded with its JSON body.

Served: users/@me, oauth2/applications/@me, command sync, channel history with Discord's
pagination (before / after / around / limit, newest first), channel posts, DMs, reactions,
interaction callbacks, follow-up webhooks (JSON, or multipart with attachments), guild roles and channels,
one channel (GET /channels/{id}, from ``guild_channels``), one message, and threads (``threads``: the
active ones per guild, the archived public ones per parent channel, newest archive first).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from discord.utils import time_snowflake

PREFIX = "/api/v10"
APPLICATION_ID = 4242


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # multipart attachments: (filename, bytes)
    status: int = 0  # the status the fake answered


@dataclass
class Failure:
    """Answer the next request matching ``method`` / ``pattern`` with ``status``, after ``skip`` pass."""

    method: str
    pattern: str
    status: int
    payload: Any
    skip: int = 0


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name.lower(),
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


class FakeDiscord:
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
        self.bot_user = user(999, "Recap", bot=True)
        self.application_flags = 1 << 18  # GATEWAY_MESSAGE_CONTENT
        self.failures: list[Failure] = []
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

    def new_id(self, at: datetime | None = None) -> int:
        return time_snowflake(at or datetime.now(UTC)) + next(self._ids)

    def add_message(
        self, channel_id: int, author: dict[str, Any], content: str, at: datetime, **extra: Any
    ) -> dict[str, Any]:
        """Put a message in a channel's history (what /summarize reads)."""
        message = self.message(channel_id, author, content, at, **extra)
        with self._lock:
            self.messages.setdefault(channel_id, []).append(message)
            self.messages[channel_id].sort(key=lambda m: int(m["id"]))
        return message

    def message(
        self, channel_id: int | str, author: dict[str, Any], content: str, at: datetime, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": str(self.new_id(at)),
            "channel_id": str(channel_id),
            "type": 0,
            "content": content,
            "author": author,
            "timestamp": at.isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "flags": 0,
            **extra,
        }

    def fail_once(
        self, method: str, pattern: str, status: int, payload: Any = None, *, skip: int = 0
    ) -> None:
        """Make one request fail: e.g. a 500 on the 2nd follow-up (``skip=1``), or a 429."""
        body = payload if payload is not None else {"message": f"injected HTTP {status}", "code": 0}
        self.failures.append(Failure(method, pattern, status, body, skip))

    def _injected(self, r: Recorded) -> tuple[int, Any] | None:
        for failure in self.failures:
            if failure.method == r.method and re.fullmatch(failure.pattern, r.path):
                if failure.skip:
                    failure.skip -= 1
                    return None
                self.failures.remove(failure)
                return failure.status, failure.payload
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
            injected = self._injected(record)
        status, payload = injected or self._route(record)
        record.status = status
        data = b"" if payload is None else json.dumps(payload).encode()
        handler.send_response(status)
        if payload is not None:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, r: Recorded) -> tuple[int, Any]:
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"/users/@me", lambda: (200, self.bot_user)),
            ("GET", r"/oauth2/applications/@me", self._application),
            ("PUT", r"/applications/\d+(?:/guilds/\d+)?/commands", lambda: (200, self._commands(r.body))),
            ("GET", r"/channels/(\d+)/messages", lambda c: (200, self._history(int(c), r.query))),
            ("POST", r"/channels/(\d+)/messages", lambda c: self._post(c, r.body)),
            ("PUT", r"/channels/\d+/messages/\d+/reactions/.+/@me", lambda: (204, None)),
            ("POST", r"/users/@me/channels", lambda: self._dm_channel(r.body)),
            ("POST", r"/interactions/(\d+)/[^/]+/callback", lambda i: self._callback(i, r.body)),
            ("POST", r"/webhooks/\d+/([^/]+)", lambda t: self._followup(t, r.body)),
            ("PATCH", r"/webhooks/\d+/([^/]+)/messages/@original", lambda t: self._followup(t, r.body)),
            ("GET", r"/guilds/\d+/roles", lambda: (200, self.roles)),
            ("GET", r"/guilds/\d+/channels", lambda: (200, self.guild_channels)),
            ("GET", r"/channels/(\d+)", self._channel),
            ("GET", r"/channels/(\d+)/messages/(\d+)", self._one_message),
            ("GET", r"/guilds/\d+/threads/active", self._active_threads),
            ("GET", r"/channels/(\d+)/threads/archived/public", lambda c: self._archived(c, r.query)),
        ]
        for method, pattern, action in routes:
            match = re.fullmatch(pattern, r.path)
            if method == r.method and match:
                return action(*match.groups())
        return 404, {"message": "404: Not Found", "code": 0}

    def _channel(self, channel_id: str) -> tuple[int, Any]:
        found = next((c for c in [*self.guild_channels, *self.threads] if c["id"] == channel_id), None)
        return (200, found) if found else (404, {"message": "Unknown Channel", "code": 10003})

    def _one_message(self, channel_id: str, message_id: str) -> tuple[int, Any]:
        with self._lock:
            found = [m for m in self.messages.get(int(channel_id), []) if m["id"] == message_id]
        return (200, found[0]) if found else (404, {"message": "Unknown Message", "code": 10008})

    def _active_threads(self) -> tuple[int, Any]:
        active = [t for t in self.threads if not (t.get("thread_metadata") or {}).get("archived")]
        return 200, {"threads": active, "members": []}

    def _archived(self, channel_id: str, query: dict[str, str]) -> tuple[int, Any]:
        def stamp(thread: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(thread["thread_metadata"]["archive_timestamp"])

        archived = [
            t
            for t in self.threads
            if (t.get("thread_metadata") or {}).get("archived") and t.get("parent_id") == channel_id
            and t.get("type") != 12
        ]
        if "before" in query:
            archived = [t for t in archived if stamp(t) < datetime.fromisoformat(query["before"])]
        archived.sort(key=stamp, reverse=True)
        limit = int(query.get("limit", 50))
        return 200, {"threads": archived[:limit], "members": [], "has_more": len(archived) > limit}

    def _application(self) -> tuple[int, Any]:
        return 200, {
            "id": str(APPLICATION_ID),
            "name": "Recap",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user(1, "Owner"),
            "verify_key": "0" * 64,
            "flags": self.application_flags,
        }

    def _commands(self, body: Any) -> list[dict[str, Any]]:
        return [
            {
                "description": "",
                **command,
                "id": str(self.new_id()),
                "application_id": str(APPLICATION_ID),
                "version": "1",
            }
            for command in body or []
        ]

    def _history(self, channel_id: int, query: dict[str, str]) -> list[dict[str, Any]]:
        """Discord's semantics: at most `limit` (<= 100) messages, always newest first."""
        limit = min(int(query.get("limit", 50)), 100)
        with self._lock:
            messages = list(self.messages.get(channel_id, []))  # oldest first
        if "before" in query:
            page = [m for m in messages if int(m["id"]) < int(query["before"])][-limit:]
        elif "after" in query:
            page = [m for m in messages if int(m["id"]) > int(query["after"])][:limit]
        elif "around" in query:
            pivot = int(query["around"])
            older = [m for m in messages if int(m["id"]) < pivot][-(limit // 2) :] if limit > 1 else []
            newer = [m for m in messages if int(m["id"]) >= pivot][: limit - len(older)]
            page = older + newer
        else:
            page = messages[-limit:]
        return list(reversed(page))

    def _post(self, channel_id: str, body: Any) -> tuple[int, Any]:
        if self.dm_channels.get(channel_id) in self.closed_dms:  # the user does not accept DMs
            return 403, {"message": "Cannot send messages to this user", "code": 50007}
        # Bot posts are not added to the history: tests read them from the request log.
        return 200, self.message(
            channel_id,
            self.bot_user,
            (body or {}).get("content", ""),
            datetime.now(UTC),
            flags=(body or {}).get("flags", 0),
        )

    def _dm_channel(self, body: Any) -> tuple[int, Any]:
        recipient = str((body or {}).get("recipient_id"))
        channel_id = str(800000 + int(recipient) % 100000)
        self.dm_channels[channel_id] = recipient
        return 200, {"id": channel_id, "type": 1, "recipients": [user(int(recipient), "U")]}

    def _callback(self, interaction_id: str, body: Any) -> tuple[int, Any]:
        if interaction_id in self.answered:
            return 400, {"message": "Interaction has already been acknowledged.", "code": 40060}
        self.answered.add(interaction_id)
        flags = ((body or {}).get("data") or {}).get("flags", 0)
        kind = body["type"]
        answer = {
            "id": interaction_id,
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(flags & 64),
        }
        return 200, {"interaction": answer, "resource": {"type": kind}}

    def _followup(self, token: str, body: Any) -> tuple[int, Any]:
        if token in self.expired_tokens:
            return 401, {"message": "Invalid Webhook Token", "code": 50027}
        channel = self.token_channels.get(token, 0)
        return 200, self.message(
            channel,
            self.bot_user,
            (body or {}).get("content", ""),
            datetime.now(UTC),
            flags=(body or {}).get("flags", 0),
            webhook_id=str(APPLICATION_ID),
        )


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
