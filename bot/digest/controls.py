"""Who may get a digest, and where it may be posted.

- the operator's allow-list / deny-list (`RECAP_DIGEST_CHANNEL_ALLOW` / `_DENY`, ids or names);
- private channels only when the bot is a member;
- a private channel's digest is posted only into that same channel: posting it anywhere else would
  show its content to people who are not members (never private -> more public).
Checked when an admin turns a digest on (with a clear reply) and again before every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str
    private: bool
    bot_member: bool

    @property
    def label(self) -> str:
        return f"#{self.name}" if self.name else "this channel"


class DigestRefused(Exception):
    """The digest may not run as configured; ``str(error)`` is the sentence for the admin."""


def _names(channel: ChannelInfo) -> set[str]:
    return {channel.id.lower(), channel.name.lower(), f"#{channel.name.lower()}"} - {"", "#"}


def _listed(channel: ChannelInfo, entries: list[str]) -> bool:
    return bool(_names(channel) & {entry.strip().lower() for entry in entries})


def check_allowed(settings: Any, channel: ChannelInfo) -> None:
    if _listed(channel, settings.digest_channel_deny):
        raise DigestRefused(f"Digests are turned off for {channel.label} by the operator (deny-list).")
    if settings.digest_channel_allow and not _listed(channel, settings.digest_channel_allow):
        raise DigestRefused(
            f"Digests are only allowed in the operator's chosen channels, and {channel.label} "
            "is not one of them (allow-list)."
        )


def check_channels(settings: Any, source: ChannelInfo, target: ChannelInfo) -> None:
    """Raise DigestRefused unless ``source``'s digest may be posted into ``target``."""
    check_allowed(settings, source)
    if source.private and not source.bot_member:
        raise DigestRefused(
            f"{source.label} is private and I am not a member, so I can't read it. "
            "Invite me to the channel first."
        )
    if source.private and target.id != source.id:
        raise DigestRefused(
            f"{source.label} is private, so its digest can only be posted in {source.label} itself. "
            f"Posting it in {target.label} would show its content to people who are not members."
        )
    if target.private and not target.bot_member:
        raise DigestRefused(f"I am not a member of {target.label}, so I can't post there. Invite me first.")
