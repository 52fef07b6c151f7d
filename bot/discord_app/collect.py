"""Reading history for a summary: a thread, a time window of a channel, or from one message on.

Every reader follows discord.py's pagination (100 messages a request) and stops at the cap
(``RECAP_MAX_MESSAGES``) or at the start of the window, so it never reads more than it needs.
Results are oldest first, the order the dialogue formatter expects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import discord

from bot.discord_app.convert import THREAD_STARTER
from bot.discord_app.errors import MissingChannelPermissions

# Permission attribute -> the name Discord's UI shows, for replies a person can act on.
READ_PERMISSIONS: dict[str, str] = {
    "view_channel": "View Channel",
    "read_message_history": "Read Message History",
}


@dataclass
class Collected:
    messages: list[discord.Message]
    scope: str  # for the reply header, e.g. "this thread" or "the last 2 h"
    capped: bool = False  # more messages were there than the limit allowed: the reply says so
    limit: int = 0
    cut: str = "older"  # which messages the limit left out: "older" ones, or "later" ones


def check_read_access(interaction: discord.Interaction) -> None:
    """Fail early, naming what is missing, when the bot may not read this channel."""
    permissions = interaction.app_permissions
    missing = [label for flag, label in READ_PERMISSIONS.items() if not getattr(permissions, flag)]
    if missing:
        raise MissingChannelPermissions(missing)


def _hours_label(hours: float) -> str:
    return f"{hours:g} h"


async def _gather(
    history: Callable[[int], AsyncIterator[discord.Message]], limit: int
) -> tuple[list[discord.Message], bool]:
    """At most ``limit`` messages, in the order read; one extra is asked for, to know whether more exist."""
    try:
        messages = [message async for message in history(limit + 1)]
    except discord.Forbidden as exc:
        # 50001 Missing Access: the channel is hidden from the bot; otherwise history is not readable.
        missing = ["View Channel"] if exc.code == 50001 else ["Read Message History"]
        raise MissingChannelPermissions(missing) from None
    return messages[:limit], len(messages) > limit


async def collect_thread(thread: discord.Thread, cap: int) -> Collected:
    """The whole thread (or forum post), newest ``cap`` messages if it is longer."""
    messages, capped = await _gather(lambda n: thread.history(limit=n), cap)
    messages.reverse()
    return Collected(await _with_openers(thread, messages), "this thread", capped, cap)


async def _with_openers(channel: discord.abc.Messageable, messages: list[discord.Message]) -> list[discord.Message]:
    if isinstance(channel, discord.Thread):
        for message in messages:
            await _resolve_opener(channel, message)
    return messages


async def _resolve_opener(thread: discord.Thread, message: discord.Message) -> None:
    """A type-21 starter that came without its ``referenced_message``: fetch the opener from the parent."""
    reference = message.reference
    if message.type is not THREAD_STARTER or reference is None or reference.resolved is not None:
        return
    if not (reference.channel_id and reference.message_id):
        return
    state = message._state  # the client's connection state, which builds messages from payloads
    try:
        data = await state.http.get_message(reference.channel_id, reference.message_id)
    except discord.HTTPException:  # deleted, or not visible: the starter is skipped with its reason
        return
    reference.resolved = discord.Message(state=state, channel=thread, data=data)


async def collect_window(
    channel: discord.abc.Messageable, cap: int, hours: float | None, count: int | None, default_hours: float
) -> Collected:
    """The last ``hours`` (default window unless only a count is given), at most ``count`` messages."""
    limit = min(count, cap) if count else cap
    window = hours if hours is not None else (None if count else default_hours)
    after = datetime.now(UTC) - timedelta(hours=window) if window is not None else None
    # Newest first with `after`: discord.py stops paging at the first page that crosses the window's start.
    messages, capped = await _gather(lambda n: channel.history(limit=n, after=after, oldest_first=False), limit)
    messages.reverse()
    messages = await _with_openers(channel, messages)
    return Collected(messages, _window_scope(len(messages), count, window, capped), capped and limit == cap, cap)


def _window_scope(found: int, count: int | None, window: float | None, more: bool) -> str:
    """Name the limit that applied: the message count when it cut the window short, else the hours."""
    if window is None:
        return f"the last {found} messages"
    if count and more:  # `messages:12 hours:2` with more than 12 in those hours: the count decided
        return f"the last {found} messages (within {_hours_label(window)})"
    return f"the last {_hours_label(window)}"


async def collect_from(channel: discord.abc.Messageable, start: discord.Message, cap: int) -> Collected:
    """From the chosen message (included) on, the first ``cap`` messages."""
    later, capped = await _gather(
        lambda n: channel.history(limit=n, after=start, oldest_first=True), max(cap - 1, 0)
    )
    messages = await _with_openers(channel, [start, *later])
    return Collected(messages, "from the chosen message", capped, cap, cut="later")
