"""`/digest on|off|show`: a channel's daily digest, for members with Manage Server (checked server-side, `show` too).

Loaded by `RecapBot.setup_hook` as an optional extension. `default_permissions(manage_guild=True)`
only hides the commands; `manage_guild_only` (the adapter's check) runs on every invocation.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.digest.admin import DigestOptions, show, turn_off, turn_on
from bot.digest.controls import ChannelInfo, DigestRefused
from bot.digest.schedule import ScheduleError
from bot.discord_app.digest import channel_info_from
from bot.discord_app.errors import manage_guild_only

if TYPE_CHECKING:
    from bot.discord_app.bot import RecapBot

log = logging.getLogger("recap.discord.digest")


async def _reply(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(
        text.replace("*on*", "**on**").replace("*off*", "**off**"),
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class DigestCog(commands.GroupCog, group_name="digest", group_description="This channel's daily digest."):
    def __init__(self, bot: RecapBot) -> None:
        self.bot = bot
        super().__init__()

    async def _channel(self, channel_id: int | str) -> ChannelInfo:
        try:
            # The HTTP layer answers the raw channel JSON (typed as discord.types' channel TypedDicts).
            data = cast(dict[str, Any], await self.bot.http.get_channel(int(channel_id)))
            return channel_info_from(data)
        except (discord.Forbidden, discord.NotFound):
            raise DigestRefused(
                "I can't see that channel. Give Recap's role View Channel there first."
            ) from None

    async def _source(self, interaction: discord.Interaction) -> ChannelInfo:
        source = await self._channel(interaction.channel_id or 0)
        # Discord resolves the bot's permissions in this channel for us: can it read it?
        member = interaction.app_permissions.view_channel and interaction.app_permissions.read_message_history
        return ChannelInfo(source.id, source.name, source.private, bool(member))

    @app_commands.command(name="on", description="Admins: post a daily digest of this channel.")
    @app_commands.describe(
        time="Local time of day, HH:MM (default 09:00)",
        timezone="IANA timezone, e.g. Europe/Berlin (default UTC)",
        channel="Where to post it (default: this channel)",
        window_hours="Hours covered (default 24)",
        min_messages="Skip days with fewer messages (default 3)",
        quiet_day="Post a short note on quiet days",
    )
    @manage_guild_only
    async def digest_on(
        self,
        interaction: discord.Interaction,
        time: str | None = None,
        timezone: str | None = None,
        channel: app_commands.AppCommandChannel | None = None,
        window_hours: app_commands.Range[int, 1, 168] | None = None,
        min_messages: app_commands.Range[int, 0, 10000] | None = None,
        quiet_day: bool | None = None,
    ) -> None:
        options = DigestOptions(
            time, timezone, float(window_hours) if window_hours else None, min_messages, quiet_day
        )
        try:
            source = await self._source(interaction)
            target = (
                source if channel is None or str(channel.id) == source.id else await self._channel(channel.id)
            )
            text = await asyncio.to_thread(
                turn_on,
                self.bot.settings,
                "discord",
                str(interaction.guild_id or ""),
                source,
                target,
                options,
                str(interaction.user.id),
            )
        except (DigestRefused, ScheduleError) as problem:
            text = f"⛔ {problem}"
        await _reply(interaction, text)

    @app_commands.command(name="off", description="Admins: stop this channel's daily digest.")
    @manage_guild_only
    async def digest_off(self, interaction: discord.Interaction) -> None:
        source = await self._source(interaction)
        await _reply(
            interaction,
            await asyncio.to_thread(turn_off, self.bot.settings, "discord", source, str(interaction.user.id)),
        )

    @app_commands.command(name="show", description="Admins: show this channel's daily digest settings.")
    @manage_guild_only
    async def digest_show(self, interaction: discord.Interaction) -> None:
        source = await self._source(interaction)
        await _reply(interaction, await asyncio.to_thread(show, self.bot.settings, "discord", source))


async def setup(bot: RecapBot) -> None:
    await bot.add_cog(DigestCog(bot))
