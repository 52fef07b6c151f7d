"""Messages to the DialogSum-style text the model was trained on, plus the speaker map."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.dialogue.message import EmptyConversationError, Message
from bot.dialogue.normalize import SOMEONE, attachment_placeholder, normalize_text


@dataclass
class Dialogue:
    """`text` is the exact model input: one `#PersonN#: ...` line per turn."""

    text: str
    speakers: dict[str, str] = field(default_factory=dict)
    message_count: int = 0
    turn_count: int = 0


def speaker_tag(number: int) -> str:
    return f"#Person{number}#"


def _has_content(message: Message) -> bool:
    return bool(message.text.strip() or message.attachments)


def _kept(messages: list[Message], include_bots: bool) -> list[Message]:
    return [m for m in messages if not m.is_system and (include_bots or not m.is_bot) and _has_content(m)]


def _empty_error(messages: list[Message]) -> EmptyConversationError:
    if not messages:
        return EmptyConversationError("There is nothing to summarize: the conversation has no messages.")
    if any(m.is_bot or m.is_system for m in messages):
        return EmptyConversationError(
            "There is nothing to summarize: the conversation only has bot or system messages."
        )
    return EmptyConversationError("There is nothing to summarize: every message in it is empty.")


def _number_speakers(kept: list[Message]) -> tuple[dict[str, str], dict[str, str]]:
    """author id -> tag, and tag -> display name, in order of first appearance."""
    tags: dict[str, str] = {}
    speakers: dict[str, str] = {}
    for message in kept:
        if message.author_id not in tags:
            tag = speaker_tag(len(tags) + 1)
            tags[message.author_id] = tag
            speakers[tag] = message.display_name.strip() or SOMEONE
    return tags, speakers


def _body(message: Message, names: Mapping[str, str]) -> str:
    text = normalize_text(message.text, message.markup, names)
    # Attachment names go through the same normalisation so a file called "@everyone.png" cannot ping.
    parts = [text] + [normalize_text(attachment_placeholder(a), "plain") for a in message.attachments]
    return " ".join(part for part in parts if part)


def format_dialogue(messages: Iterable[Message], include_bots: bool = False) -> Dialogue:
    """Number speakers by first appearance, normalise markup, merge consecutive messages of one author.

    Messages are taken in the order given (adapters and parsers hand them over oldest first).
    Speakers are numbered before any text is normalised, because a message may mention someone
    who only speaks later.
    """
    all_messages = list(messages)
    kept = _kept(all_messages, include_bots)
    if not kept:
        raise _empty_error(all_messages)
    tags, speakers = _number_speakers(kept)
    # Authors we dropped (bots) are still known by name when someone mentions them.
    authors = {m.author_id: m.display_name for m in all_messages if m.display_name.strip()}

    turns: list[tuple[str, list[str]]] = []
    for message in kept:
        body = _body(message, {**authors, **message.names, **tags})
        if not body:
            continue
        tag = tags[message.author_id]
        if turns and turns[-1][0] == tag:
            turns[-1][1].append(body)
        else:
            turns.append((tag, [body]))
    if not turns:
        raise _empty_error(all_messages)
    text = "\n".join(f"{tag}: {' '.join(bodies)}" for tag, bodies in turns)
    return Dialogue(text=text, speakers=speakers, message_count=len(kept), turn_count=len(turns))
