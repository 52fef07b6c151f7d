"""Slack message dicts -> ``bot.dialogue.Message``.

Kept: messages from people (plain, thread broadcasts, file shares, /me). Dropped: bot messages,
system subtypes (joins, topic changes, pins...), deleted messages and tombstones. An edited message
already carries its current text in history; a ``message_changed`` event carries it in ``message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.dialogue import Message

PEOPLE_SUBTYPES = {None, "", "thread_broadcast", "file_share", "me_message"}
DELETED_SUBTYPES = {"message_deleted", "tombstone"}


def _current(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    if raw.get("subtype") == "message_changed" and isinstance(raw.get("message"), Mapping):
        return raw["message"]
    return raw


def is_from_person(raw: Mapping[str, Any]) -> bool:
    if raw.get("bot_id") or raw.get("bot_profile") or raw.get("subtype") == "bot_message":
        return False
    if raw.get("hidden") or raw.get("subtype") in DELETED_SUBTYPES:
        return False
    return raw.get("subtype") in PEOPLE_SUBTYPES and bool(raw.get("user"))


def _file_names(raw: Mapping[str, Any]) -> tuple[str, ...]:
    names = []
    for item in raw.get("files") or ():
        # Files the bot cannot see come as {"id": ..., "mode": "hidden_by_limit"} without a name.
        names.append(str(item.get("name") or item.get("title") or "file"))
    return tuple(names)


def to_message(raw: Mapping[str, Any], names: Mapping[str, str]) -> Message | None:
    """One Slack message as a dialogue Message, or None when it is not a person's live message."""
    current = _current(raw)
    if not is_from_person(current):
        return None
    user = current["user"]
    ts = str(current.get("ts") or raw.get("ts") or "0")
    thread_ts = current.get("thread_ts")
    return Message(
        author_id=user,
        display_name=names.get(user, ""),
        text=current.get("text") or "",
        timestamp=datetime.fromtimestamp(float(ts), UTC),
        message_id=ts,
        thread_id=thread_ts,
        reply_to=thread_ts if thread_ts and thread_ts != ts else None,
        attachments=_file_names(current),
        markup="slack",
        names=dict(names),
    )


def to_messages(raws: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> list[Message]:
    """Convert in order, dropping what is not a person's message."""
    converted = (to_message(raw, names) for raw in raws)
    return [message for message in converted if message is not None]
