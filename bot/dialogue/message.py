"""The platform-neutral chat message and the errors of the dialogue package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Markup = Literal["plain", "slack", "discord"]
MARKUPS: tuple[str, ...] = ("plain", "slack", "discord")


class EmptyConversationError(ValueError):
    """Nothing is left to summarize once bots, system notices and empty messages are dropped."""


class ConversationFormatError(ValueError):
    """An uploaded or pasted conversation could not be read; the message is meant for a person."""


@dataclass(frozen=True)
class Message:
    """One chat message as the adapters and parsers hand it over.

    `names` maps platform ids seen in `text` (users, roles, channels) to display names, so
    mentions can be rendered without another API call. It is excluded from the hash because
    mappings are not hashable.
    """

    author_id: str
    display_name: str
    text: str
    timestamp: datetime
    is_bot: bool = False
    is_system: bool = False
    message_id: str = ""
    thread_id: str | None = None
    reply_to: str | None = None
    attachments: tuple[str, ...] = ()
    markup: Markup = "plain"
    names: Mapping[str, str] = field(default_factory=dict, hash=False)
    permalink: str | None = None

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError("Message.timestamp must be timezone-aware (UTC)")
        if self.markup not in MARKUPS:
            raise ValueError(f"Message.markup must be one of {', '.join(MARKUPS)}, not {self.markup!r}")
        # Frozen: normalise through object.__setattr__ so callers may pass lists and other zones.
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))
        object.__setattr__(self, "attachments", tuple(self.attachments))
        object.__setattr__(self, "text", self.text or "")
