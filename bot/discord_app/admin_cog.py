"""Server admin settings. Every command here is checked server-side with `require_manage_guild`.

`default_permissions(manage_guild=True)` only hides the command by default; server admins can
re-grant it to anyone in Integrations settings, so the real check runs on every invocation.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin_report import FILENAME, build_chat_report
from bot.discord_app.errors import manage_guild_only
from bot.discord_app.rest import MESSAGE_LIMIT

if TYPE_CHECKING:
    from bot.discord_app.bot import RecapBot

log = logging.getLogger("recap.discord.admin")


class AdminCog(commands.Cog):
    def __init__(self, bot: RecapBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="recap-sharing",
        description="Admins: allow (or stop) keeping rated conversations to improve the summarizer.",
    )
    @app_commands.describe(enabled="Keep dialogue text of summaries for training, until the retention date")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manage_guild_only
    async def sharing(self, interaction: discord.Interaction, enabled: bool) -> None:
        guild = str(interaction.guild_id)
        await asyncio.to_thread(self.bot.store.set_sharing, "discord", guild, enabled)
        log.info("guild %s: training-data sharing %s", guild, "on" if enabled else "off")
        text = (
            "Sharing is **on**: conversations behind summaries in this server may be kept for training "
            f"for {self.bot.settings.retention_days} days."
            if enabled
            else "Sharing is **off**: no conversation text from this server is kept."
        )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @app_commands.command(
        name="recap-report",
        description="Admins: the evaluation report (live feedback and latency) as text and an HTML file.",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manage_guild_only
    async def report(self, interaction: discord.Interaction) -> None:
        # Rendering the charts takes seconds: defer first, then render off the event loop.
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await asyncio.to_thread(build_chat_report, self.bot.store)
        log.info("guild %s: report sent to an admin", interaction.guild_id)
        await interaction.followup.send(
            report.text[:MESSAGE_LIMIT],
            file=discord.File(io.BytesIO(report.html), filename=FILENAME),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
