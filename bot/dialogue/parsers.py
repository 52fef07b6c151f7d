"""Read pasted or uploaded conversations: plain `Name: text`, DialogSum, Slack and Discord exports."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.dialogue.exports import NOT_A_CONVERSATION, parse_discord_export, parse_slack_export
from bot.dialogue.message import ConversationFormatError, Message

FORMATS: tuple[str, ...] = ("auto", "plain", "dialogsum", "slack", "discord")
# Text files carry no date; times from "[10:32]" prefixes land on this day.
_BASE = datetime(1970, 1, 1, tzinfo=UTC)

_DIALOGSUM_LINE = re.compile(r"^\s*#\s?Person\s?(\d+)\s?#\s*:\s?(.*)$", re.IGNORECASE)
_PLAIN_LINE = re.compile(
    r"^\s*(?:\[(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\]\s*)?"
    r"(?P<name>[^:\s/\[\]][^:/\[\]]{0,39}?)\s*:(?!//)\s?(?P<text>.*)$"
)


def _not_text(filename: str | None) -> str:
    what = f"{filename} is" if filename else "This file is"
    return f"{what} not a text file. Upload a UTF-8 text or JSON file."


def _decode(data: str | bytes, filename: str | None) -> str:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConversationFormatError(_not_text(filename)) from None
    if "\x00" in data:
        raise ConversationFormatError(_not_text(filename))
    return data.lstrip("\ufeff")


def _load_json(text: str, filename: str | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        name = filename or "The conversation"
        raise ConversationFormatError(
            f"{name} looks like JSON but cannot be read (line {error.lineno}: {error.msg})."
        ) from None


def _detect(text: str, filename: str | None) -> str:
    stripped = text.lstrip()
    # "[10:32] Alice: hi" starts like a JSON array too; a "{" never starts a chat line.
    first_line = stripped.splitlines()[0]
    looks_json = stripped[:1] == "{" or (stripped[:1] == "[" and not _PLAIN_LINE.match(first_line))
    if looks_json or (filename or "").lower().endswith(".json"):
        data = _load_json(text, filename)
        if isinstance(data, dict) and "messages" in data:
            return "discord"
        if isinstance(data, list):
            return "slack"
        raise ConversationFormatError(NOT_A_CONVERSATION)
    first = next(line for line in text.splitlines() if line.strip())
    return "dialogsum" if _DIALOGSUM_LINE.match(first) else "plain"


def _join(previous: Message, more: str) -> Message:
    text = f"{previous.text}\n{more}" if previous.text else more
    return replace(previous, text=text)


def _parse_lines(text: str, pattern: re.Pattern[str], build: Any, what: str) -> list[Message]:
    messages: list[Message] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = pattern.match(line)
        # Inside an open ``` fence every line belongs to the code, even "x: y" lines.
        in_code = bool(messages) and messages[-1].text.count("```") % 2 == 1
        if match and not in_code:
            messages.append(build(match, len(messages)))
        elif messages:
            messages[-1] = _join(messages[-1], line.strip())  # a continuation line of the previous turn
        else:
            raise ConversationFormatError(f"{NOT_A_CONVERSATION} Line {number} has no {what}.")
    return messages


def _plain_message(match: re.Match[str], index: int) -> Message:
    name = match.group("name").strip()
    if match.group("h") is not None:
        hours, minutes, seconds = int(match.group("h")), int(match.group("m")), int(match.group("s") or 0)
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ConversationFormatError(f"{match.group(0).strip()!r} has an impossible time of day.")
        stamp = _BASE.replace(hour=hours, minute=minutes, second=seconds)
    else:
        stamp = _BASE + timedelta(seconds=index)
    return Message(
        author_id=name,
        display_name=name,
        text=match.group("text").strip(),
        timestamp=stamp,
        message_id=str(index + 1),
    )


def _dialogsum_message(match: re.Match[str], index: int) -> Message:
    person = f"Person{int(match.group(1))}"
    return Message(
        author_id=person,
        display_name=person,
        text=match.group(2).strip(),
        timestamp=_BASE + timedelta(seconds=index),
        message_id=str(index + 1),
    )


def parse_plain(text: str) -> list[Message]:
    return _parse_lines(text, _PLAIN_LINE, _plain_message, "speaker ('Name: text')")


def parse_dialogsum(text: str) -> list[Message]:
    return _parse_lines(text, _DIALOGSUM_LINE, _dialogsum_message, "'#PersonN#:' speaker tag")


def parse_conversation(data: str | bytes, filename: str | None = None, fmt: str = "auto") -> list[Message]:
    """Messages from a pasted or uploaded conversation, oldest first.

    Raises ConversationFormatError with a message fit to show the person who uploaded it.
    """
    if fmt not in FORMATS:
        raise ConversationFormatError(
            f"Unknown conversation format {fmt!r}; use one of: {', '.join(FORMATS)}."
        )
    text = _decode(data, filename)
    if not text.strip():
        raise ConversationFormatError("The conversation is empty.")
    kind = _detect(text, filename) if fmt == "auto" else fmt
    if kind == "plain":
        messages = parse_plain(text)
    elif kind == "dialogsum":
        messages = parse_dialogsum(text)
    else:
        data_json = _load_json(text, filename)
        messages = parse_slack_export(data_json) if kind == "slack" else parse_discord_export(data_json)
    if not messages:
        raise ConversationFormatError("The conversation is empty.")
    return messages
