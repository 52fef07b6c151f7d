"""A channel's window of messages -> conversations: each thread is one, and top-level messages are
split where the channel went quiet for longer than the gap. A lone short message is not a conversation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from bot.dialogue import Message

TRIVIAL_WORDS = 8  # a single message shorter than this ("ok", "thanks!", "lunch?") is dropped


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)
    thread_id: str | None = None

    @property
    def first(self) -> Message:
        return self.messages[0]

    @property
    def message_count(self) -> int:
        return len(self.messages)

    @property
    def participants(self) -> list[str]:
        """Display names in order of first appearance."""
        seen: dict[str, str] = {}
        for message in self.messages:
            seen.setdefault(message.author_id, message.display_name.strip() or "someone")
        return list(seen.values())

    def is_trivial(self) -> bool:
        if len(self.messages) > 1:
            return False
        only = self.messages[0]
        return not only.attachments and len(only.text.split()) < TRIVIAL_WORDS


def from_people(messages: Iterable[Message]) -> list[Message]:
    """Messages a digest counts: people's, with some content (the same rule as format_dialogue)."""
    return [m for m in messages if not m.is_bot and not m.is_system and (m.text.strip() or m.attachments)]


def split_conversations(messages: Iterable[Message], gap: timedelta) -> list[Conversation]:
    """Group by thread, split the rest on gaps, drop trivial ones; ordered by first message."""
    people = sorted(from_people(messages), key=lambda m: m.timestamp)
    threads: dict[str, Conversation] = {}
    top_level: list[Conversation] = []
    for message in people:
        if message.thread_id:
            threads.setdefault(message.thread_id, Conversation(thread_id=message.thread_id)).messages.append(
                message
            )
            continue
        current = top_level[-1] if top_level else None
        if current is None or message.timestamp - current.messages[-1].timestamp > gap:
            current = Conversation()
            top_level.append(current)
        current.messages.append(message)
    conversations = [c for c in [*threads.values(), *top_level] if not c.is_trivial()]
    return sorted(conversations, key=lambda c: c.first.timestamp)
