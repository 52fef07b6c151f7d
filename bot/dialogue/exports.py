"""Slack workspace-export channel files and DiscordChatExporter JSON to Messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.dialogue.message import ConversationFormatError, Message

NOT_A_CONVERSATION = (
    "This file is not a conversation: expected 'Name: text' lines, DialogSum '#Person1#: ...' lines, "
    "a Slack export (channel JSON) or a DiscordChatExporter JSON."
)
# Ordinary Slack messages; every other subtype (channel_join, channel_topic, pinned_item, ...) is a notice.
_SLACK_PEOPLE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
# Discord message types written by people (or by bots answering commands); the rest are notices.
_DISCORD_PEOPLE_TYPES = {"Default", "Reply", "ThreadStarterMessage", "ChatInputCommand", "ContextMenuCommand"}


def _slack_profile_name(profile: Any) -> str:
    if not isinstance(profile, dict):
        return ""
    for key in ("display_name", "real_name", "name"):
        value = profile.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _slack_time(item: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(float(item["ts"]), UTC)
    except (TypeError, ValueError, OverflowError):
        problem = f"A Slack message has an unreadable timestamp: {item['ts']!r}."
        raise ConversationFormatError(problem) from None


def _slack_files(item: dict[str, Any]) -> tuple[str, ...]:
    files = item.get("files") or []
    return tuple(str(f.get("name") or f.get("title") or "file") for f in files if isinstance(f, dict))


def _slack_message(item: dict[str, Any], names: dict[str, str]) -> Message:
    subtype = item.get("subtype")
    is_bot = subtype == "bot_message" or bool(item.get("bot_id"))
    author = str(item.get("user") or item.get("bot_id") or "unknown")
    bot_name = item.get("username") or _slack_profile_name(item.get("bot_profile"))
    display = names.get(author) or (bot_name if is_bot else "") or author
    ts, thread_ts = str(item["ts"]), item.get("thread_ts")
    return Message(
        author_id=author,
        display_name=str(display),
        text=str(item.get("text") or ""),
        timestamp=_slack_time(item),
        is_bot=is_bot,
        is_system=subtype not in _SLACK_PEOPLE_SUBTYPES and subtype != "bot_message",
        message_id=ts,
        thread_id=str(thread_ts) if thread_ts else None,
        reply_to=str(thread_ts) if thread_ts and thread_ts != ts else None,
        attachments=_slack_files(item),
        markup="slack",
        names=names,
    )


def parse_slack_export(data: Any) -> list[Message]:
    """A channel file (`general/2024-01-15.json`) of a Slack workspace export."""
    if not isinstance(data, list):
        raise ConversationFormatError(NOT_A_CONVERSATION)
    items = [d for d in data if isinstance(d, dict) and d.get("type", "message") == "message" and "ts" in d]
    if data and not items:
        raise ConversationFormatError(NOT_A_CONVERSATION)
    # The export carries a profile on each message; together they name everyone who posted.
    names = {
        str(d["user"]): name
        for d in items
        if d.get("user") and (name := _slack_profile_name(d.get("user_profile")))
    }
    messages = [_slack_message(item, names) for item in items]
    return sorted(messages, key=lambda m: m.timestamp)


def _discord_name(person: Any) -> str:
    if not isinstance(person, dict):
        return ""
    for key in ("nickname", "globalName", "name"):
        value = person.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _discord_names(data: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    channel = data.get("channel")
    if isinstance(channel, dict) and channel.get("id") and channel.get("name"):
        names[str(channel["id"])] = str(channel["name"])
    for message in messages:
        for person in [message.get("author"), *(message.get("mentions") or [])]:
            if isinstance(person, dict) and person.get("id") and (name := _discord_name(person)):
                names.setdefault(str(person["id"]), name)
    return names


def _mentions_as_ids(content: str, mentions: list[Any]) -> str:
    """DiscordChatExporter writes `<@123>` as `@Name`; turn it back so speakers get their tag."""
    spelled: list[tuple[str, str]] = []
    for person in mentions:
        if isinstance(person, dict) and person.get("id"):
            for key in ("nickname", "globalName", "name"):
                if isinstance(person.get(key), str) and person[key].strip():
                    spelled.append((person[key].strip(), str(person["id"])))
    for name, person_id in sorted(spelled, key=lambda pair: -len(pair[0])):  # "Ann Lee" before "Ann"
        content = re.sub(r"@" + re.escape(name) + r"(?!\w)", f"<@{person_id}>", content)
    return content


def _discord_time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConversationFormatError(f"A Discord message has an unreadable timestamp: {value!r}.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _discord_message(item: dict[str, Any], names: dict[str, str]) -> Message:
    author = _object(item.get("author"))
    reference = _object(item.get("reference"))
    attachments = [a for a in item.get("attachments") or [] if isinstance(a, dict)]
    return Message(
        author_id=str(author.get("id") or "unknown"),
        display_name=_discord_name(author) or "someone",
        text=_mentions_as_ids(str(item.get("content") or ""), item.get("mentions") or []),
        timestamp=_discord_time(item.get("timestamp")),
        is_bot=bool(author.get("isBot")),
        is_system=item.get("type", "Default") not in _DISCORD_PEOPLE_TYPES,
        message_id=str(item.get("id") or ""),
        reply_to=str(reference["messageId"]) if reference.get("messageId") else None,
        attachments=tuple(str(a.get("fileName") or "file") for a in attachments),
        markup="discord",
        names=names,
    )


def parse_discord_export(data: Any) -> list[Message]:
    """A DiscordChatExporter JSON export of one channel or thread."""
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ConversationFormatError(NOT_A_CONVERSATION)
    items = [m for m in data["messages"] if isinstance(m, dict)]
    names = _discord_names(data, items)
    return [_discord_message(item, names) for item in items]
