"""Read channel history and threads through the Web API, with pagination and a users.info cache.

Rate limits: the WebClient built by ``build_app`` carries slack_sdk's RateLimitErrorRetryHandler,
which sleeps for Slack's ``Retry-After`` and tries again.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

PAGE_LIMIT = 200  # Slack's recommended page size for conversations.*
_NOT_READABLE = {"not_in_channel", "channel_not_found", "missing_scope_channel"}
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)")

SlackMessage = dict[str, Any]


class NotInChannelError(Exception):
    """The bot cannot read the conversation: it is not a member, or the channel is private."""


def _pages(call: Any, limit: int, **params: Any) -> Iterator[SlackMessage]:
    """Yield messages across cursor pages until ``limit`` messages or the last page."""
    cursor: str | None = None
    seen = 0
    while seen < limit:
        try:
            page = call(limit=min(PAGE_LIMIT, limit - seen), cursor=cursor, **params)
        except SlackApiError as exc:
            if exc.response.get("error") in _NOT_READABLE:
                raise NotInChannelError(exc.response.get("error")) from exc
            raise
        for message in page.get("messages", []):
            seen += 1
            yield message
            if seen >= limit:
                return
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not cursor:
            return


def _is_thread_parent(message: SlackMessage) -> bool:
    return bool(message.get("reply_count")) and message.get("thread_ts") == message.get("ts")


def collect_thread(client: WebClient, channel: str, thread_ts: str, limit: int) -> list[SlackMessage]:
    """The parent and its replies, oldest first (conversations.replies returns them in order)."""
    return list(_pages(client.conversations_replies, limit, channel=channel, ts=thread_ts))


def collect_channel(
    client: WebClient, channel: str, *, oldest: float | None, limit: int, count: int | None = None
) -> list[SlackMessage]:
    """Top-level messages since ``oldest`` (and/or the last ``count``), each followed by its thread
    replies, oldest first; at most ``limit`` messages in all, keeping the newest."""
    params: dict[str, Any] = {"channel": channel}
    if oldest is not None:
        params["oldest"] = f"{oldest:.6f}"
    top = list(_pages(client.conversations_history, min(count or limit, limit), **params))
    top.reverse()  # history pages are newest first
    collected: list[SlackMessage] = []
    for message in top:
        collected.append(message)
        if _is_thread_parent(message):
            replies = collect_thread(client, channel, message["ts"], limit)
            collected.extend(r for r in replies if r.get("ts") != message.get("ts"))
    return collected[-limit:]


class UserDirectory:
    """Display names from users.info, cached for ``ttl_s`` (names change rarely; the API is tier 4)."""

    def __init__(self, ttl_s: float = 3600) -> None:
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def name(self, client: WebClient, user_id: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(user_id)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        name = _lookup(client, user_id)
        with self._lock:
            self._cache[user_id] = (now, name)
        return name

    def names_for(self, client: WebClient, messages: Iterable[SlackMessage]) -> dict[str, str]:
        """Names of every author and every user mentioned in ``messages``."""
        ids: dict[str, None] = {}
        for message in messages:
            if message.get("user"):
                ids[message["user"]] = None
            for mentioned in _MENTION.findall(message.get("text") or ""):
                ids[mentioned] = None
        found = {user_id: self.name(client, user_id) for user_id in ids}
        return {user_id: name for user_id, name in found.items() if name}


def _lookup(client: WebClient, user_id: str) -> str | None:
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except SlackApiError:
        return None  # deleted or foreign user: the dialogue calls them "someone"
    profile = user.get("profile") or {}
    candidates = (profile.get("display_name"), profile.get("real_name"), user.get("real_name"),
                  user.get("name"))
    for candidate in candidates:
        if candidate and candidate.strip():
            return candidate.strip()
    return None
