"""Slack message dicts -> ``bot.dialogue.Message``, one documented subtype at a time.

Subtypes are those of https://api.slack.com/events/message#subtypes (each has its own page, e.g.
https://api.slack.com/events/message/thread_broadcast). Kept, as a person's turn: plain messages,
thread broadcasts (a reply also shown in the channel; history and replies both list it, the reader
keeps one), file shares and file mentions (the file names become placeholders), /me messages, and
edited messages (history already holds the current text; a ``message_changed`` event holds it in
``message``). Skipped, each for the reason ``skip_reason`` names: bot and app messages, system
notices (joins, topics, pins, renames, reminders...), deleted messages and tombstones, reply
notifications, and messages hidden by Enterprise Key Management. None of these is a sign of a
missing permission, so none leads to a note about one.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.dialogue import Message

log = logging.getLogger("recap.slack.convert")

PEOPLE_SUBTYPES = {None, "", "thread_broadcast", "file_share", "file_mention", "me_message"}
DELETED_SUBTYPES = {"message_deleted", "tombstone"}
SYSTEM_SUBTYPES = {
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "channel_convert_to_private", "channel_convert_to_public", "channel_posting_permissions",
    "group_join", "group_leave", "group_topic", "group_purpose", "group_name", "group_archive", "group_unarchive",
    "pinned_item", "unpinned_item", "reminder_add", "bot_add", "bot_remove", "sh_room_created",
    "channel_canvas_updated", "huddle_thread", "assistant_app_thread",
}
REASONS = {
    "bot": "a bot or app message (summaries cover people)",
    "system": "a system notice, not a message anyone wrote",
    "deleted": "deleted",
    "reply_notice": "a notification that a thread got a reply (the reply itself is read)",
    "ekm": "hidden by the workspace's Enterprise Key Management",
    "no_author": "no author",
    "unknown": "a subtype Recap does not read",
}


def _current(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    if raw.get("subtype") == "message_changed" and isinstance(raw.get("message"), Mapping):
        return raw["message"]
    return raw


def skip_reason(raw: Mapping[str, Any]) -> str | None:
    """Why this message is no turn of the dialogue (a key of REASONS), or None when it is one."""
    subtype = raw.get("subtype")
    if raw.get("bot_id") or raw.get("bot_profile") or subtype in ("bot_message", "slackbot_response"):
        return "bot"
    if subtype in DELETED_SUBTYPES:
        return "deleted"
    if subtype == "message_replied":
        return "reply_notice"
    if subtype == "ekm_access_denied":
        return "ekm"
    if subtype in SYSTEM_SUBTYPES:
        return "system"
    if raw.get("hidden"):
        return "deleted"
    if subtype not in PEOPLE_SUBTYPES:
        return "unknown"
    return None if raw.get("user") else "no_author"


def is_from_person(raw: Mapping[str, Any]) -> bool:
    return skip_reason(raw) is None


def _file_names(raw: Mapping[str, Any]) -> tuple[str, ...]:
    names = []
    for item in raw.get("files") or ():
        # Files the bot cannot see come as {"id": ..., "mode": "hidden_by_limit"} without a name.
        names.append(str(item.get("name") or item.get("title") or "file"))
    return tuple(names)


def _profile_name(raw: Mapping[str, Any]) -> str:
    """The display name Slack puts on the message itself (``user_profile``), when it does."""
    profile = raw.get("user_profile") or {}
    for key in ("display_name", "real_name"):
        if str(profile.get(key) or "").strip():
            return str(profile[key]).strip()
    return ""


def to_message(raw: Mapping[str, Any], names: Mapping[str, str]) -> Message | None:
    """One Slack message as a dialogue Message, or None when it is not a person's live message."""
    current = _current(raw)
    if skip_reason(current) is not None:
        return None
    user = current["user"]
    ts = str(current.get("ts") or raw.get("ts") or "0")
    thread_ts = current.get("thread_ts")
    return Message(
        author_id=user,
        display_name=names.get(user) or _profile_name(current),
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
    """Convert in order, dropping what is not a person's message; logs how many were skipped and why
    (reasons and counts only, never text)."""
    kept: list[Message] = []
    skipped: Counter[str] = Counter()
    for raw in raws:
        message = to_message(raw, names)
        if message is None:
            skipped[skip_reason(_current(raw)) or "unknown"] += 1
        else:
            kept.append(message)
    if skipped:
        log.info("skipped %s", ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items())))
    return kept
