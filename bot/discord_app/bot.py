"""`RecapBot`: the discord.py bot behind `recap discord`.

Setup happens in `setup_hook` (cogs, persistent buttons, optional digest cog, command sync per
guild in development and globally otherwise). Every app-command error goes through one handler
(`RecapTree.on_error`), which answers ephemerally and logs, so no error crashes the bot.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands
from redis import Redis

from bot.discord_app.admin_cog import AdminCog
from bot.discord_app.errors import CONTENT_INTENT_NOTE, send_error
from bot.discord_app.feedback import FeedbackCog, VoteButton
from bot.discord_app.rest import apply_api_base
from bot.discord_app.summarize_cog import SummarizeCog
from bot.queue import redis_connection
from bot.store import Store, store_for

log = logging.getLogger("recap.discord")
# discord.py sleeps through a 429 inside the handler; past this, it raises and the user is told instead.
MAX_RATE_LIMIT_WAIT_S = 60.0
OPTIONAL_EXTENSIONS = ("bot.discord_app.digest_cog",)


class RecapTree(app_commands.CommandTree):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await send_error(interaction, error)


class RecapBot(commands.Bot):
    def __init__(self, settings: Any, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: without it, others' messages arrive empty
        apply_api_base(settings)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=RecapTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            application_id=settings.discord_application_id,
            max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT_S,
            **options,
        )
        self.settings = settings
        self.redis: Redis = redis_connection(settings)

    @property
    def store(self) -> Store:
        """Opened on first use and shared with the rest of the process."""
        return store_for(self.settings)

    async def setup_hook(self) -> None:
        self.check_content_intent()
        await self.add_cog(SummarizeCog(self))
        await self.add_cog(FeedbackCog(self))
        await self.add_cog(AdminCog(self))
        self.add_dynamic_items(VoteButton)
        for name in OPTIONAL_EXTENSIONS:
            await self._load_optional(name)
        await self.sync_commands()

    async def _load_optional(self, name: str) -> None:
        """Load a feature cog if it is installed; a broken one is logged, not fatal to the bot."""
        if importlib.util.find_spec(name) is None:
            return
        try:
            await self.load_extension(name)
        except commands.ExtensionError:
            log.exception("could not load %s; its commands are unavailable", name)

    def check_content_intent(self) -> bool:
        """Say at start-up when the Message Content intent is off in the Developer Portal.

        Connecting with a privileged intent the portal refuses would fail outright, so the bot
        drops it and explains the problem in every reply instead.
        """
        flags = self.application_flags
        enabled = flags.gateway_message_content or flags.gateway_message_content_limited
        if not enabled:
            log.error("Message Content intent is OFF. %s", CONTENT_INTENT_NOTE.replace("**", ""))
            self._connection._intents.message_content = False  # the intents sent when identifying
        return enabled

    async def sync_commands(self) -> None:
        guild_id = self.settings.discord_dev_guild
        try:
            if guild_id:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d commands to development guild %s", len(synced), guild_id)
            else:
                synced = await self.tree.sync()
                log.info("synced %d global commands (may take up to an hour to appear)", len(synced))
        except discord.HTTPException as exc:
            log.error("could not sync application commands: HTTP %s (Discord code %s)", exc.status, exc.code)

    async def on_ready(self) -> None:
        user = self.user
        log.info("connected as %s (%s) to %d servers", user, user.id if user else "?", len(self.guilds))


def run_bot(settings: Any) -> None:
    """Run until interrupted; configuration problems end with a clear message, not a traceback."""
    token = settings.discord_token.get_secret_value() if settings.discord_token else ""
    if not token:
        raise SystemExit(
            "RECAP_DISCORD_TOKEN is not set: copy the bot token from the Developer Portal (Bot tab)."
        )
    bot = RecapBot(settings)
    try:
        bot.run(token, log_handler=None)
    except discord.LoginFailure:
        raise SystemExit(
            "Discord rejected RECAP_DISCORD_TOKEN: reset it in the Developer Portal and try again."
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise SystemExit(CONTENT_INTENT_NOTE.replace("**", "")) from None
