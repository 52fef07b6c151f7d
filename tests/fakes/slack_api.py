"""A local HTTP fake of the Slack Web API, for the real slack_sdk WebClient (via base_url).

It serves conversations.history / conversations.replies with cursor pagination, users.info,
auth.test, chat.postMessage, chat.postEphemeral, chat.getPermalink, reactions.add, conversations.open,
conversations.info (channels added with ``add_channel``), the three steps
of files_upload_v2 (files.getUploadURLExternal, the upload URL, files.completeUploadExternal) and
response_url endpoints.
Every call is recorded. With ``keep_posts`` the bot's chat.postMessage posts join the history (with their
metadata, real time stamps), as on Slack; ``lose_response`` accepts a call, then drops the connection
unanswered (Slack took the post, the response was lost). It can answer one 429 with Retry-After per
method (at once or after n calls), be slow, expire
response URLs (and refuse a sixth use of one, as Slack does), or fail a method with a Slack error.
Rate limits follow https://api.slack.com/apis/rate-limits: HTTP 429, ``{"ok": false, "error": "ratelimited"}``
and a ``Retry-After`` header in seconds; the call is not applied.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from fakes.slack_http import handler_for

TEAM_ID = "T1"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
RESPONSE_URL_USES = 5  # Slack accepts at most 5 posts to one response_url (and only for 30 minutes)


@dataclass
class Call:
    method: str  # "conversations.history", or "response_url" for response_url posts
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    accepted: bool = True  # False when the fake refused it (429, a Slack error, an expired URL)
    response: dict[str, Any] = field(default_factory=dict)  # what the fake answered (e.g. a post's ts)


class FakeSlackAPI:
    def __init__(self, page_size: int = 2, *, keep_posts: bool = False) -> None:
        self.page_size = page_size
        self.keep_posts = keep_posts
        self.lose_response: dict[str, int] = {}  # method -> accepted calls whose answer is never sent
        self._last_ts = 0.0
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages (replies too)
        self.users: dict[str, dict[str, Any]] = {}
        self.not_member: set[str] = set()  # public channels the bot has not joined
        self.rate_limit_once: dict[str, int] = {}  # method -> Retry-After seconds, answered once
        # method -> (calls to let through first, Retry-After seconds): one 429 later on, e.g. on part 2
        self.rate_limit_after: dict[str, tuple[int, int]] = {}
        # method -> [429s left, Retry-After seconds]: answered that many times in a row (e.g. 3 x 40 s)
        self.rate_limit_times: dict[str, list[int]] = {}
        # method -> Retry-After seconds: every call is refused until ``lift_rate_limit``, as in a storm
        self.rate_limited: dict[str, int] = {}
        self.delays: dict[str, float] = {}  # method -> seconds to wait before answering ("response_url" too)
        self.errors: dict[str, str] = {}  # method -> Slack error code to answer with
        self.expired_urls: set[str] = set()  # response_url ids that answer 404 expired_url
        self.response_url_uses: dict[str, int] = {}  # response_url id -> posts accepted so far
        self.calls: list[Call] = []
        self.uploads: dict[str, bytes] = {}  # file id -> bytes POSTed to its upload URL
        self.channels: dict[str, dict[str, Any]] = {}  # conversations.info records, see add_channel
        self._lock = threading.Lock()
        self._ts = 1_700_000_000
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # Lifecycle

    def start(self) -> FakeSlackAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.root + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.root}/response/{name}"

    # Test data

    def add_user(self, user_id: str, display_name: str, real_name: str = "") -> None:
        self.users[user_id] = {
            "id": user_id, "name": display_name.lower(), "real_name": real_name or display_name,
            "profile": {"display_name": display_name, "real_name": real_name or display_name},
        }

    def add_channel(self, channel: str, name: str, *, private: bool = False, member: bool = True) -> None:
        """A channel conversations.info knows (name, privacy, whether the bot is a member)."""
        self.channels[channel] = {"id": channel, "name": name, "is_private": private, "is_member": member}
        self.messages.setdefault(channel, [])

    def add_message(
        self, channel: str, user: str | None, text: str, ts: float, **extra: Any
    ) -> dict[str, Any]:
        message = {"type": "message", "text": text, "ts": f"{ts:.6f}", **extra}
        if user is not None:
            message["user"] = user
        self.messages.setdefault(channel, []).append(message)
        return message

    # Recorded calls

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def posts(self) -> list[Call]:
        """What the bot posted to people and Slack accepted: messages, ephemerals, response_url posts."""
        kinds = {"chat.postMessage", "chat.postEphemeral", "response_url"}
        with self._lock:
            return [call for call in self.calls if call.method in kinds and call.accepted]

    # Request handling

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        call = Call(method, params)
        with self._lock:
            self.calls.append(call)
            retry_after = self.rate_limit_once.pop(method, None) or self.rate_limited.get(method)
            if retry_after is None and method in self.rate_limit_after:
                retry_after = self._rate_limit_later(method)
            if retry_after is None and self.rate_limit_times.get(method, [0])[0] > 0:
                self.rate_limit_times[method][0] -= 1
                retry_after = self.rate_limit_times[method][1]
        if retry_after is not None:
            call.accepted = False
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
        time.sleep(self.delays.get(method, 0))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if method in self.errors or handler is None:
            call.accepted = False
            return 200, {"ok": False, "error": self.errors.get(method, "unknown_method")}, {}
        body = handler(params)
        call.accepted, call.response = bool(body.get("ok")), body
        return 200, body, {}

    def lift_rate_limit(self, *methods: str) -> None:
        with self._lock:
            for method in methods:
                self.rate_limited.pop(method, None)

    def drops_response(self, method: str) -> bool:
        """Whether to close this call's connection without an answer (it was handled all the same)."""
        with self._lock:
            left = self.lose_response.get(method, 0)
            if left:
                self.lose_response[method] = left - 1
            return bool(left)

    def _rate_limit_later(self, method: str) -> int | None:
        let_through, retry_after = self.rate_limit_after[method]
        if let_through > 0:
            self.rate_limit_after[method] = (let_through - 1, retry_after)
            return None
        del self.rate_limit_after[method]
        return retry_after

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "user": "recap"}

    def _channel(self, params: dict[str, Any]) -> list[dict[str, Any]] | dict[str, Any]:
        channel = params.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if channel not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        return self.messages[channel]

    def _page(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        start = int(params.get("cursor") or 0)
        size = min(int(params.get("limit") or 100), self.page_size)
        page = items[start : start + size]
        more = start + size < len(items)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + size) if more else ""}}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._channel(params)
        if isinstance(found, dict):
            return found
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
        top = [m for m in found if m.get("thread_ts", m["ts"]) == m["ts"] or _broadcast(m)]
        top = _metadata_if_asked([m for m in top if oldest < float(m["ts"]) < latest], params)
        return self._page(sorted(top, key=lambda m: float(m["ts"]), reverse=True), params)

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._channel(params)
        if isinstance(found, dict):
            return found
        parent = params.get("ts")
        thread = [m for m in found if m["ts"] == parent or m.get("thread_ts") == parent]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return self._page(sorted(_metadata_if_asked(thread, params), key=lambda m: float(m["ts"])), params)

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"{self._ts}.000100"

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = self._real_ts() if self.keep_posts else self._next_ts()
        channel, metadata = str(params.get("channel")), params.get("metadata")
        if self.keep_posts:
            posted = {"type": "message", "ts": ts, "text": params.get("text"), "bot_id": BOT_ID}
            if params.get("thread_ts"):
                posted["thread_ts"] = params["thread_ts"]
            if metadata:
                posted["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
            self.messages.setdefault(channel, []).append(posted)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text"), "ts": ts}}

    def _real_ts(self) -> str:
        with self._lock:  # real time stamps, strictly increasing
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self.channels.get(params.get("channel", ""))
        return {"ok": True, "channel": found} if found else {"ok": False, "error": "channel_not_found"}

    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel", ""), str(params.get("message_ts", ""))
        link = f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users") or "")
        if "," in users or users not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + users, "is_im": True}}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{self._next_ts().split('.')[0]}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.root}/upload/{file_id}"}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(params.get("files") or "[]")
        if not files or any(f.get("id") not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def upload_post(self, file_id: str, data: bytes) -> None:
        with self._lock:
            self.uploads[file_id] = data
            self.calls.append(Call("upload", {"file_id": file_id, "length": len(data)}))

    def shared_files(self) -> list[tuple[Call, list[bytes]]]:
        """Completed uploads: the files.completeUploadExternal call and the bytes of each of its files."""
        done = [call for call in self.calls_to("files.completeUploadExternal") if call.accepted]
        return [(call, [self.uploads[f["id"]] for f in json.loads(call.params["files"])]) for call in done]

    def response_post(self, name: str, body: dict[str, Any]) -> tuple[int, str]:
        with self._lock:
            used_up = self.response_url_uses.get(name, 0) >= RESPONSE_URL_USES
            refused = name in self.expired_urls or used_up
            if not refused:
                self.response_url_uses[name] = self.response_url_uses.get(name, 0) + 1
            self.calls.append(Call("response_url", {**body, "_url": name}, accepted=not refused))
        time.sleep(self.delays.get("response_url", 0))  # applied at once, answered late (a slow Slack)
        if refused:
            return 404, "used_url" if used_up else "expired_url"
        return 200, "ok"


def _broadcast(message: dict[str, Any]) -> bool:
    return message.get("subtype") == "thread_broadcast"


def _metadata_if_asked(messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Slack returns message metadata only with include_all_metadata."""
    if str(params.get("include_all_metadata")).lower() in ("1", "true"):
        return messages
    return [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
