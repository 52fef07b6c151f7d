"""The digest post: a header with the channel and date, then one bullet per conversation with its
summary, participants, message count and a link to its first message; split within a platform limit.

Platforms supply a `Style`: how to escape untrusted text (summaries, names) and how to write bold
text and links. Everything a person or the model wrote goes through `Style.text`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from bot.dialogue import defuse_mentions


@dataclass(frozen=True)
class DigestItem:
    """One conversation of the day, as stored on the run row (JSON) and rendered as one bullet."""

    summary: str
    participants: list[str]
    message_count: int
    permalink: str | None
    started_at: str  # ISO 8601, UTC

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DigestItem:
        return cls(
            str(data["summary"]),
            list(data["participants"]),
            int(data["message_count"]),
            data.get("permalink"),
            str(data["started_at"]),
        )


@dataclass(frozen=True)
class DigestView:
    channel_label: str  # "#general", already known to be safe to show in the target channel
    local_date: date
    items: list[DigestItem]
    message_total: int
    min_messages: int = 0

    @property
    def quiet(self) -> bool:
        return not self.items


@dataclass(frozen=True)
class Style:
    text: Callable[[str], str]
    bold: Callable[[str], str]
    link: Callable[[str, str], str]  # (url, label)
    limit: int


PLAIN = Style(
    text=defuse_mentions, bold=lambda s: s, link=lambda url, label: f"{label}: {url}", limit=1_000_000
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def header(view: DigestView, style: Style) -> str:
    day = f"{view.local_date:%A} {view.local_date.day} {view.local_date:%B %Y}"
    title = style.bold(f"Daily digest for {style.text(view.channel_label)} · {day}")
    if view.quiet:
        return f"{title}\nA quiet day: fewer than {view.min_messages} messages, or nothing worth a summary."
    return f"{title}\n{_plural(len(view.items), 'conversation')}, {_plural(view.message_total, 'message')}"


def bullet(item: DigestItem, style: Style) -> str:
    names = ", ".join(style.text(name) for name in item.participants)
    parts = [
        style.text(item.summary.strip() or "(no summary)"),
        names,
        _plural(item.message_count, "message"),
    ]
    if item.permalink:
        parts.append(style.link(item.permalink, "first message"))
    return "• " + " · ".join(part for part in parts if part)


def _fit(line: str, limit: int) -> list[str]:
    """A single line longer than ``limit`` is cut on spaces (a summary is never that long in practice)."""
    pieces: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(line[:cut].rstrip())
        line = line[cut:].lstrip()
    return [*pieces, line] if line else pieces


def render(view: DigestView, style: Style) -> list[str]:
    """The post as parts, each within ``style.limit`` characters; bullets are never split across parts
    unless one bullet alone is longer than the limit."""
    lines = [header(view, style), *(bullet(item, style) for item in view.items)]
    parts: list[str] = []
    current = ""
    for line in lines:
        for piece in _fit(line, style.limit):
            if current and len(current) + 1 + len(piece) > style.limit:
                parts.append(current)
                current = ""
            current = f"{current}\n{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def plain_text(view: DigestView) -> str:
    """The digest as the Summary row keeps it (feedback and training read this)."""
    return "\n".join(render(view, PLAIN))
