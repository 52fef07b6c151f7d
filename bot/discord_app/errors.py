"""One central place that turns any failure into a short ephemeral reply, plus the admin check.

Every handler may simply raise: `RecapBot`'s tree routes errors here, the user gets one sentence,
operators get a log line (never message text), and the bot keeps running.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.dialogue import EmptyConversationError
from bot.queue import QueueUnavailableError

log = logging.getLogger("recap.discord.errors")

CONTENT_INTENT_NOTE = (
    "I can't read message text because the **Message Content** intent is off. A server admin or the "
    "bot's owner must enable it in the Developer Portal (Bot → Privileged Gateway Intents)."
)


class UserFacingError(Exception):
    """An expected problem; ``str(error)`` is the reply."""


class MissingChannelPermissions(UserFacingError):
    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        names = " and ".join(f"**{name}**" for name in missing)
        super().__init__(
            f"I can't read this channel: I need the {names} permission here. "
            "Ask a server admin to grant it to Recap's role."
        )


class MessageContentUnavailable(UserFacingError):
    def __init__(self) -> None:
        super().__init__(CONTENT_INTENT_NOTE)


class RateLimited(UserFacingError):
    pass


class NotServerManager(app_commands.CheckFailure):
    """Raised by `require_manage_guild`: the member lacks Manage Server."""


QUEUE_DOWN = (
    "The summary queue is not reachable right now, so nothing was queued. Please try again in a few minutes."
)
STALE_COMMAND = "Recap was updated; this command changed — try `/summarize` again in a minute."
CHANNEL_GONE = "This channel was deleted while I was reading it, so there is nothing to summarize."
UNKNOWN_CHANNEL = 10003
# An interaction built from an older command definition: a removed command, changed options or types.
STALE_ERRORS = (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch, app_commands.TransformerError)
UNEXPECTED = (
    "Something went wrong on my side. The error was logged for the operators; please try again later."
)


def require_manage_guild(interaction: discord.Interaction) -> bool:
    """Server-side check for admin commands: `default_member_permissions` is only a hint admins can change."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise NotServerManager("Only members with the **Manage Server** permission can use this command.")
    return True


manage_guild_only = app_commands.check(require_manage_guild)


def reply_for(error: BaseException) -> str:
    """The sentence for the user; unexpected errors are logged with their type and traceback."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, STALE_ERRORS):
        # Discord keeps sending old definitions for up to an hour after a sync: expected, not a fault.
        log.info("stale command definition (%s)", type(error).__name__)
        return STALE_COMMAND
    if isinstance(error, discord.RateLimited) or (isinstance(error, discord.HTTPException) and error.status == 429):
        wait = getattr(error, "retry_after", 0) or 60
        log.info("Discord rate limit of %.0f s while reading history", wait)
        return f"Discord is limiting how fast I can read this channel. Please try again in {_duration(wait)}."
    if isinstance(error, discord.NotFound) and error.code == UNKNOWN_CHANNEL:
        log.info("the channel was deleted during the request")
        return CHANNEL_GONE
    if isinstance(error, UserFacingError | NotServerManager):
        return str(error)
    if isinstance(error, QueueUnavailableError):
        return QUEUE_DOWN
    if isinstance(error, EmptyConversationError):
        return str(error)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in servers only."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.BotMissingPermissions):
        names = " and ".join(f"**{p.replace('_', ' ').title()}**" for p in error.missing_permissions)
        return f"I need the {names} permission here."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, discord.Forbidden):
        return (
            "Discord refused me access here (missing permission). Ask a server admin to check Recap's role."
        )
    log.error("unexpected %s", type(error).__name__, exc_info=error)
    return UNEXPECTED


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} minutes"


async def send_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Reply ephemerally through whichever channel is still open; never raise."""
    text = reply_for(error)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException as exc:
        log.warning("could not send an error reply for interaction %s: HTTP %s", interaction.id, exc.status)
