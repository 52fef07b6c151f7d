"""`/summarize` and the "Summarize from here" message command.

Each request: dedupe on the interaction id, defer within Discord's 3 s (ephemeral unless public),
rate-limit, check read access, collect, convert, enqueue. The worker answers through the
interaction's original response (bot.discord_app.deliver), so this side never posts the summary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.dialogue import format_dialogue
from bot.discord_app.collect import Collected, check_read_access, collect_from, collect_thread, collect_window
from bot.discord_app.convert import is_unreadable, skip_reason, skipped_counts, to_dialogue_message
from bot.discord_app.errors import (
    CONTENT_INTENT_NOTE,
    MessageContentUnavailable,
    RateLimited,
    UserFacingError,
)
from bot.discord_app.names import guild_names
from bot.queue import QueueUnavailableError, SummaryJob, enqueue_summary
from bot.ratelimit import check_rate_limit, claim_once

if TYPE_CHECKING:
    from bot.discord_app.bot import RecapBot

log = logging.getLogger("recap.discord.summarize")
CLAIM_TIMEOUT_S = 1.5
ALREADY_ACKNOWLEDGED = 40060
Collector = Callable[[], Awaitable[Collected]]


def _maybe_applied(error: BaseException) -> bool:
    """No answer (connection lost, timeout, a 5xx), or Discord saying the interaction was already answered."""
    if isinstance(error, discord.DiscordServerError) or not isinstance(error, discord.HTTPException):
        return True
    return error.code == ALREADY_ACKNOWLEDGED


class SummarizeCog(commands.Cog):
    def __init__(self, bot: RecapBot) -> None:
        self.bot = bot
        self.from_here = app_commands.ContextMenu(
            name="Summarize from here",
            callback=self.summarize_from_here,
            allowed_contexts=app_commands.AppCommandContext(guild=True),
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.from_here)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.from_here.name, type=self.from_here.type)

    @app_commands.command(name="summarize", description="Summarize this thread, or the recent messages here.")
    @app_commands.describe(
        messages="Summarize only the last N messages",
        hours="Summarize the last N hours (default: 24 in channels; threads are read whole)",
        public="Post the summary for everyone (default: only you see it)",
    )
    @app_commands.guild_only()
    async def summarize(
        self,
        interaction: discord.Interaction,
        messages: app_commands.Range[int, 1, 20000] | None = None,
        hours: app_commands.Range[float, 0.05, 720.0] | None = None,
        public: bool = False,
    ) -> None:
        settings, channel = self.bot.settings, interaction.channel
        cap = settings.max_messages

        async def collect() -> Collected:
            if isinstance(channel, discord.Thread) and messages is None and hours is None:
                return await collect_thread(channel, cap)
            if not isinstance(channel, discord.abc.Messageable):
                raise UserFacingError("I can only summarize text channels, threads and forum posts.")
            return await collect_window(channel, cap, hours, messages, settings.default_window_hours)

        await self.handle(interaction, public, collect)

    async def summarize_from_here(self, interaction: discord.Interaction, message: discord.Message) -> None:
        channel = interaction.channel

        async def collect() -> Collected:
            if not isinstance(channel, discord.abc.Messageable):
                raise UserFacingError("I can only summarize text channels, threads and forum posts.")
            return await collect_from(channel, message, self.bot.settings.max_messages)

        await self.handle(interaction, False, collect)

    async def handle(self, interaction: discord.Interaction, public: bool, collect: Collector) -> None:
        redis = self.bot.redis
        key = f"discord:interaction:{interaction.id}"
        # A duplicate delivery of the same interaction: the first one answers, this one stays silent.
        if not await self._claim(key):
            log.info("interaction %s already handled", interaction.id)
            return
        await self._defer(interaction, public)
        # The claim is kept even when a step below fails: once deferred, this interaction has had its
        # one answer (the error reply), and Discord never redelivers it for a retry.
        await self._rate_limit(interaction)
        check_read_access(interaction)
        job = await self._build_job(interaction, public, await collect())
        enqueued = await asyncio.to_thread(enqueue_summary, job, self.bot.settings, redis)
        log.info(
            "interaction %s -> job %s (%d messages, created=%s)",
            interaction.id,
            enqueued.job_id,
            job.message_count,
            enqueued.created,
        )

    async def _defer(self, interaction: discord.Interaction, public: bool) -> None:
        """Show "thinking…". A deferral whose answer was lost may have been applied: carry on as deferred.

        Answering again would fail (40060, already acknowledged); the worker edits the original response
        if the deferral landed, and falls back to the channel or a DM if it did not.
        """
        try:
            await interaction.response.defer(ephemeral=not public, thinking=True)
        except (aiohttp.ClientError, TimeoutError, discord.HTTPException) as exc:
            if not _maybe_applied(exc):
                raise
            log.info("interaction %s: the deferral's answer was lost (%s); treated as applied",
                     interaction.id, type(exc).__name__)
            # discord.py records a response only when its answer arrives; record the one that may have landed.
            interaction.response._response_type = discord.InteractionResponseType.deferred_channel_message

    async def _claim(self, key: str) -> bool:
        # Bounded, so a hanging Redis cannot push the defer past Discord's 3 s: it answers "queue down".
        try:
            return await asyncio.wait_for(asyncio.to_thread(claim_once, self.bot.redis, key, 3600), CLAIM_TIMEOUT_S)
        except TimeoutError:
            raise QueueUnavailableError("The summary queue (Redis) did not answer in time.") from None

    async def _rate_limit(self, interaction: discord.Interaction) -> None:
        decision = await asyncio.to_thread(
            check_rate_limit, self.bot.redis, f"discord:{interaction.user.id}", self.bot.settings
        )
        if not decision.allowed:
            raise RateLimited(decision.message())

    async def _build_job(
        self, interaction: discord.Interaction, public: bool, collected: Collected
    ) -> SummaryJob:
        people = [m for m in collected.messages if not skip_reason(m)]
        unreadable = sum(1 for m in people if is_unreadable(m))
        skipped = skipped_counts(collected.messages)
        if skipped:  # counts and reasons only, never text
            log.info("interaction %s: skipped %s", interaction.id, dict(skipped))
        if people and unreadable == len(people):
            raise MessageContentUnavailable()
        note = CONTENT_INTENT_NOTE if unreadable or not self.bot.intents.message_content else ""
        names = await guild_names(self.bot, interaction.guild_id, collected.messages)
        dialogue = format_dialogue([to_dialogue_message(m, names) for m in collected.messages])
        channel = interaction.channel
        thread = channel if isinstance(channel, discord.Thread) else None
        return SummaryJob(
            request_id=f"discord:{interaction.id}",
            platform="discord",
            dialogue=dialogue.text,
            speakers=dialogue.speakers,
            workspace=str(interaction.guild_id or ""),
            channel=str(thread.parent_id if thread else interaction.channel_id),
            thread=str(thread.id) if thread else None,
            requester=str(interaction.user.id),
            message_count=dialogue.message_count,
            public=public,
            destination={
                "application_id": str(interaction.application_id),
                "token": interaction.token,
                "channel_id": str(interaction.channel_id),
                "user_id": str(interaction.user.id),
                "created_at": interaction.created_at.timestamp(),
                "public": public,
                "scope": collected.scope,
                "capped": collected.capped,
                "limit": collected.limit,
                "cut": collected.cut,
                "note": note,
            },
        )
