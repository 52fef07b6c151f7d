"""What the digest job needs from a chat platform, and where each platform's implementation lives.

Platforms are looked up by dotted path, like the summary deliverers, so this package imports no SDK.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any, Protocol

from bot.dialogue import Message
from bot.digest.controls import ChannelInfo
from bot.digest.render import Style

PLATFORMS: dict[str, str] = {
    "slack": "bot.slack_app.digest",
    "discord": "bot.discord_app.digest",
}


class DigestPlatform(Protocol):
    style: Style

    def channel_info(self, channel: str) -> ChannelInfo:
        """Name, privacy and bot membership; raises DigestRefused when the bot cannot see the channel."""
        ...

    def collect(self, channel: str, start: datetime, end: datetime, limit: int) -> list[Message]:
        """People's and bots' messages in [start, end), thread replies included, oldest first."""
        ...

    def permalink(self, channel: str, message: Message) -> str | None: ...

    def post(self, target: str, text: str, *, key: str, part: int, summary_id: int, last: bool) -> str:
        """Post one part of the digest with no pings; returns its message ref ("{channel}:{id}")."""
        ...

    def find_posted(self, target: str, *, key: str, part: int, since: datetime) -> str | None:
        """The ref of a part an earlier attempt posted (after ``since``) but did not record, if any."""
        ...

    def notify_admin(self, user: str, text: str) -> None:
        """Tell one admin (privately) why the digest could not run; raises on failure."""
        ...


def platform_for(name: str, settings: Any) -> DigestPlatform:
    try:
        path = PLATFORMS[name]
    except KeyError:
        raise ValueError(
            f"digests are not available on {name!r}; expected one of {sorted(PLATFORMS)}"
        ) from None
    module = importlib.import_module(path)
    platform: DigestPlatform = module.digest_platform(settings)
    return platform
