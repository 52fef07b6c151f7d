"""The route handlers of the Discord REST fake (tests/fakes/discord_api.py): what each endpoint answers.

`DiscordRoutes` is mixed into `FakeDiscord`, which owns the state these handlers read and change
(declared below) and the HTTP serving. Handlers return ``(status, JSON payload or None)``.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from discord.utils import time_snowflake

PREFIX = "/api/v10"
APPLICATION_ID = 4242
UNKNOWN_CHANNEL = {"message": "Unknown Channel", "code": 10003}
INVALID_TOKEN = {"message": "Invalid Webhook Token", "code": 50027}
LOADING = 1 << 7  # message flag of a deferred response's "thinking..." message


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # multipart attachments: (filename, bytes)
    status: int = 0  # the status the fake answered


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name.lower(),
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


def member(who: dict[str, Any], nick: str | None = None) -> dict[str, Any]:
    """A guild member object (https://discord.com/developers/docs/resources/guild#guild-member-object)."""
    return {
        "user": who, "nick": nick, "avatar": None, "roles": [], "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False, "mute": False, "flags": 0, "pending": False,
    }


class DiscordRoutes:
    """Endpoint handlers over the fake's state; `FakeDiscord` provides the attributes declared here."""

    messages: dict[int, list[dict[str, Any]]]
    roles: list[dict[str, Any]]
    guild_channels: list[dict[str, Any]]
    threads: list[dict[str, Any]]
    expired_tokens: set[str]
    closed_dms: set[str]
    answered: set[str]
    dm_channels: dict[str, str]
    token_channels: dict[str, int]
    posted: dict[str, list[dict[str, Any]]]
    nonces: dict[str, dict[str, Any]]
    originals: dict[str, dict[str, Any]]
    token_followups: dict[str, list[dict[str, Any]]]
    members: dict[str, dict[str, Any]]
    deleted_channels: set[str]
    bot_user: dict[str, Any]
    application_flags: int
    _ids: itertools.count[int]
    _lock: threading.Lock

    def new_id(self, at: datetime | None = None) -> int:
        return time_snowflake(at or datetime.now(UTC)) + next(self._ids)

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

    def _route(self, r: Recorded) -> tuple[int, Any]:
        gone = re.match(r"/channels/(\d+)", r.path)
        if gone and gone.group(1) in self.deleted_channels:
            return 404, UNKNOWN_CHANNEL
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"/users/@me", lambda: (200, self.bot_user)),
            ("GET", r"/oauth2/applications/@me", self._application),
            ("PUT", r"/applications/\d+(?:/guilds/\d+)?/commands", lambda: (200, self._commands(r.body))),
            ("GET", r"/channels/(\d+)/messages", lambda c: (200, self._history(int(c), r.query))),
            ("POST", r"/channels/(\d+)/messages", lambda c: self._post(c, r.body)),
            ("PUT", r"/channels/\d+/messages/\d+/reactions/.+/@me", lambda: (204, None)),
            ("POST", r"/users/@me/channels", lambda: self._dm_channel(r.body)),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", lambda i, t: self._callback(i, t, r.body)),
            ("POST", r"/webhooks/\d+/([^/]+)", lambda t: self._followup(t, r.body)),
            ("PATCH", r"/webhooks/\d+/([^/]+)/messages/@original", lambda t: self._edit_original(t, r.body)),
            ("GET", r"/webhooks/\d+/([^/]+)/messages/@original", self._get_original),
            ("GET", r"/guilds/\d+/members/(\d+)", self._member),
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
            if (t.get("thread_metadata") or {}).get("archived")
            and t.get("parent_id") == channel_id
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
        body = body or {}
        # As Discord does: a repeated enforced nonce returns the message it created, and posts nothing.
        # (Discord forgets nonces after a few minutes; the fake keeps them for the whole test.)
        nonce = str(body["nonce"]) if body.get("enforce_nonce") and body.get("nonce") else ""
        with self._lock:
            if nonce in self.nonces:
                return 200, self.nonces[nonce]
            message = self.message(
                channel_id, self.bot_user, body.get("content", ""), datetime.now(UTC), flags=body.get("flags", 0)
            )
            # Bot posts are not added to the history: tests read them from `posted` or the request log.
            self.posted.setdefault(channel_id, []).append(message)
            if nonce:
                self.nonces[nonce] = message
        return 200, message

    def _dm_channel(self, body: Any) -> tuple[int, Any]:
        recipient = str((body or {}).get("recipient_id"))
        channel_id = str(800000 + int(recipient) % 100000)
        self.dm_channels[channel_id] = recipient
        return 200, {"id": channel_id, "type": 1, "recipients": [user(int(recipient), "U")]}

    def _callback(self, interaction_id: str, token: str, body: Any) -> tuple[int, Any]:
        if interaction_id in self.answered:
            return 400, {"message": "Interaction has already been acknowledged.", "code": 40060}
        self.answered.add(interaction_id)
        data = (body or {}).get("data") or {}
        flags, kind = data.get("flags", 0), body["type"]
        if kind in (4, 5):  # a message response, or the "thinking..." one a deferral shows
            content = data.get("content", "") if kind == 4 else ""
            original = self._new_bot_message(token, content, flags | (LOADING if kind == 5 else 0))
            self.originals[token] = {**original, "interaction_id": interaction_id}
        answer = {
            "id": interaction_id,
            "type": 2,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(flags & 64),
        }
        return 200, {"interaction": answer, "resource": {"type": kind}}

    def _new_bot_message(self, token: str, content: str, flags: int) -> dict[str, Any]:
        channel = self.token_channels.get(token, 0)
        return self.message(
            channel, self.bot_user, content, datetime.now(UTC), flags=flags, webhook_id=str(APPLICATION_ID)
        )

    def _token_refused(self, token: str) -> tuple[int, Any] | None:
        if token in self.expired_tokens:
            return 401, INVALID_TOKEN
        if str(self.token_channels.get(token, "")) in self.deleted_channels:
            return 404, UNKNOWN_CHANNEL
        return None

    def _followup(self, token: str, body: Any) -> tuple[int, Any]:
        refused = self._token_refused(token)
        if refused:
            return refused
        message = self._new_bot_message(token, (body or {}).get("content", ""), (body or {}).get("flags", 0))
        with self._lock:
            self.posted.setdefault(message["channel_id"], []).append(message)
            self.token_followups.setdefault(token, []).append(message)
            if not message["flags"] & 64:  # a public follow-up is a message in the channel, for everyone
                history = self.messages.setdefault(int(message["channel_id"]), [])
                history.append(message)
                history.sort(key=lambda m: int(m["id"]))
        return 200, message

    def _edit_original(self, token: str, body: Any) -> tuple[int, Any]:
        """PATCH @original: the same edit twice leaves one message (what makes it safe to repeat)."""
        refused = self._token_refused(token)
        if refused:
            return refused
        with self._lock:
            original = self.originals.get(token)
            if original is None:  # the interaction was never answered (no deferral landed)
                return 404, {"message": "Unknown Message", "code": 10008}
            for key in ("content", "components", "allowed_mentions"):
                if key in (body or {}):
                    original[key] = body[key]
            # Editing can only set SUPPRESS_EMBEDS; EPHEMERAL stays as the deferral set it; loading ends.
            original["flags"] = (original["flags"] & 64) | ((body or {}).get("flags", 0) & 4)
            return 200, dict(original)

    def _get_original(self, token: str) -> tuple[int, Any]:
        refused = self._token_refused(token)
        original = self.originals.get(token)
        if refused or original is None:
            return refused or (404, {"message": "Unknown Message", "code": 10008})
        return 200, dict(original)

    def _member(self, user_id: str) -> tuple[int, Any]:
        found = self.members.get(user_id)
        return (200, found) if found else (404, {"message": "Unknown Member", "code": 10007})
