"""A channel's window of messages -> conversations: each thread is one, and top-level messages are
split where the channel went quiet for longer than the gap. A lone short message is not a conversation.

A thread that started before the window but had replies in it keeps its parent as context (it is what
the replies answer, and where the link points); only the window's messages are counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.dialogue import Message

TRIVIAL_WORDS = 8  # a single message shorter than this ("ok", "thanks!", "lunch?") is dropped


@dataclass
class Conversation:
    messages: list[Message] = field(default_factory=list)
    thread_id: str | None = None
    since: datetime | None = None  # the window's start: earlier messages are context, not counted

    @property
    def first(self) -> Message:
        return self.messages[0]

    @property
    def in_window(self) -> list[Message]:
        return [m for m in self.messages if self.since is None or m.timestamp >= self.since]

    @property
    def message_count(self) -> int:
        return len(self.in_window)

    @property
    def participants(self) -> list[str]:
        """Display names in order of first appearance."""
        seen: dict[str, str] = {}
        for message in self.messages:
            seen.setdefault(message.author_id, message.display_name.strip() or "someone")
        return list(seen.values())

    def is_trivial(self) -> bool:
        """A single short message of the window (a lone "thanks" in an old thread too)."""
        counted = self.in_window
        if len(counted) != 1:
            return not counted
        only = counted[0]
        return not only.attachments and len(only.text.split()) < TRIVIAL_WORDS


def from_people(messages: Iterable[Message]) -> list[Message]:
    """Messages a digest counts: people's, with some content (the same rule as format_dialogue)."""
    return [m for m in messages if not m.is_bot and not m.is_system and (m.text.strip() or m.attachments)]


def split_conversations(
    messages: Iterable[Message], gap: timedelta, since: datetime | None = None
) -> list[Conversation]:
    """Group by thread, split the rest on gaps, drop trivial ones; ordered by first message.

    Messages before ``since`` (parents of threads that were active in the window) only give context."""
    people = sorted(from_people(messages), key=lambda m: m.timestamp)
    threads: dict[str, Conversation] = {}
    top_level: list[Conversation] = []
    for message in people:
        if message.thread_id:
            thread = threads.setdefault(message.thread_id, Conversation(thread_id=message.thread_id, since=since))
            thread.messages.append(message)
            continue
        current = top_level[-1] if top_level else None
        if current is None or message.timestamp - current.messages[-1].timestamp > gap:
            current = Conversation(since=since)
            top_level.append(current)
        current.messages.append(message)
    conversations = [c for c in [*threads.values(), *top_level] if not c.is_trivial()]
    return sorted(conversations, key=lambda c: c.first.timestamp)
