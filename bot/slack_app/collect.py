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
THREAD_LOOKBACK_S = 7 * 86400  # threads started this long before a window may still get replies in it
LOOKBACK_PARENTS = 1000  # at most this many older top-level messages are checked for in-window replies
_NOT_READABLE = {"not_in_channel", "channel_not_found", "missing_scope_channel"}
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)")

SlackMessage = dict[str, Any]


class NotInChannelError(Exception):
    """The bot cannot read the conversation: it is not a member, or the channel is private."""


class Collected(list[SlackMessage]):
    """Collected messages; ``truncated`` is True when the cap left out messages the request covered,
    so the requester can be told the summary is not of everything."""

    truncated: bool = False


def _read(call: Any, limit: int, **params: Any) -> tuple[list[SlackMessage], bool]:
    """Messages across cursor pages, at most ``limit``; the flag says whether more were left unread."""
    cursor: str | None = None
    found: list[SlackMessage] = []
    while True:
        try:
            page = call(limit=min(PAGE_LIMIT, limit - len(found)), cursor=cursor, **params)
        except SlackApiError as exc:
            if exc.response.get("error") in _NOT_READABLE:
                raise NotInChannelError(exc.response.get("error")) from exc
            raise
        messages = list(page.get("messages") or [])
        room = limit - len(found)
        found.extend(messages[:room])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        more = len(messages) > room or bool(page.get("has_more") and cursor)
        if len(found) >= limit or not more:
            return found, more and len(found) >= limit


def pages(call: Any, limit: int, **params: Any) -> Iterator[SlackMessage]:
    """Messages across cursor pages, at most ``limit`` (for callers that need no truncation flag)."""
    yield from _read(call, limit, **params)[0]


def _is_thread_parent(message: SlackMessage) -> bool:
    return bool(message.get("reply_count")) and message.get("thread_ts") == message.get("ts")


def read_thread(client: WebClient, channel: str, thread_ts: str, limit: int) -> Collected:
    """The parent and its replies, oldest first (conversations.replies returns them in order)."""
    messages, more = _read(client.conversations_replies, limit, channel=channel, ts=thread_ts)
    collected = Collected(messages)
    collected.truncated = more
    return collected


def read_channel(
    client: WebClient, channel: str, *, oldest: float | None, limit: int, count: int | None = None
) -> Collected:
    """Top-level messages since ``oldest`` (and/or the last ``count``), each followed by its thread
    replies, oldest first; at most ``limit`` messages in all, keeping the newest.

    Threads are read newest first and reading stops once ``limit`` is reached, so a huge channel
    costs at most about ``limit`` messages of API calls, not every thread in it."""
    params: dict[str, Any] = {"channel": channel}
    if oldest is not None:
        params["oldest"] = f"{oldest:.6f}"
    top, more = _read(client.conversations_history, min(count or limit, limit), **params)
    truncated = more and (count is None or count > limit)  # `/summarize 100` asked for just 100
    blocks: list[list[SlackMessage]] = []
    total = 0
    for index, message in enumerate(top):  # newest first, as history pages come
        block = [message]
        if _is_thread_parent(message):
            replies = read_thread(client, channel, message["ts"], limit - total)
            block += [r for r in replies if r.get("ts") != message.get("ts")]
            truncated = truncated or replies.truncated
        blocks.append(block)
        total += len(block)
        if total >= limit:
            truncated = truncated or total > limit or index < len(top) - 1
            break
    collected = Collected(m for block in reversed(blocks) for m in block)
    del collected[: max(0, len(collected) - limit)]
    collected.truncated = truncated
    return collected


def older_threads(
    client: WebClient, channel: str, *, since: float, end: float | None, limit: int
) -> Collected:
    """Threads started in the bounded look-back before ``since`` with replies in [since, end): each
    parent (as context) followed by just those replies. History with ``oldest`` lists only parents in
    the window, so without this a new reply to an older thread would be missed."""
    lookback = {"oldest": f"{since - THREAD_LOOKBACK_S:.6f}", "latest": f"{since:.6f}"}
    found = Collected()
    for parent in pages(client.conversations_history, LOOKBACK_PARENTS, channel=channel, **lookback):
        if not _is_thread_parent(parent) or float(parent.get("latest_reply") or 0) < since:
            continue  # its last reply is older than the window: not even read
        if len(found) >= limit:
            found.truncated = True
            break
        replies = read_thread(client, channel, parent["ts"], limit)
        window = [r for r in replies if r.get("ts") != parent.get("ts") and _within(r, since, end)]
        if window:
            found[:0] = [parent, *window]  # history comes newest first; keep threads oldest first
    return found


def _within(message: SlackMessage, since: float, end: float | None) -> bool:
    ts = float(message.get("ts") or 0)
    return since <= ts and (end is None or ts < end)


def read_window(
    client: WebClient, channel: str, *, oldest: float | None, limit: int, count: int | None = None,
    end: float | None = None,
) -> Collected:
    """``read_channel``, plus (for a time window) the in-window replies of older threads, each after
    its parent; messages from ``end`` on are left out. At most ``limit`` messages, keeping the newest."""
    recent = read_channel(client, channel, oldest=oldest, limit=limit, count=count)
    if oldest is None or len(recent) >= limit:  # no window, or full: older threads would be cut first
        older: list[SlackMessage] = []
    else:
        older = older_threads(client, channel, since=oldest, end=end, limit=limit - len(recent))
    seen: set[str] = set()  # a thread broadcast is both in history and in its thread
    merged = Collected()
    for message in [*older, *recent]:
        if str(message.get("ts")) not in seen and (end is None or float(message.get("ts") or 0) < end):
            seen.add(str(message.get("ts")))
            merged.append(message)
    merged.truncated = recent.truncated or getattr(older, "truncated", False) or len(merged) > limit
    del merged[: max(0, len(merged) - limit)]
    return merged


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
