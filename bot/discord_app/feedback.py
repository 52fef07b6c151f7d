"""👍 / 👎 feedback: raw reaction events and persistent buttons, one live vote per user.

Raw events are used so reactions on messages that are not in discord.py's cache (older than the
bot's uptime) count too. The buttons are a `DynamicItem`: the summary id is in the custom_id, so
clicks work after a restart without keeping views in memory.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.discord_app.rest import DOWN, UP, VOTE_CUSTOM_ID, VOTE_EMOJI, vote_custom_id

if TYPE_CHECKING:
    from bot.discord_app.bot import RecapBot

log = logging.getLogger("recap.discord.feedback")
OLD_BUTTON = "This button is from an older version of Recap and no longer works. Run `/summarize` for a fresh summary."
NO_MENTIONS = discord.AllowedMentions.none()


class FeedbackCog(commands.Cog):
    def __init__(self, bot: RecapBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A click on a button Recap no longer has (an older version's): answer it, or Discord says it failed."""
        if interaction.type not in (discord.InteractionType.component, discord.InteractionType.modal_submit):
            return
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if re.fullmatch(VOTE_CUSTOM_ID, custom_id):
            return  # VoteButton answers it
        log.info("interaction %s: a component from an older version", interaction.id)
        try:
            await interaction.response.send_message(OLD_BUTTON, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("could not answer an old component: HTTP %s", exc.status)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, added: bool) -> None:
        rating = VOTE_EMOJI.get(str(payload.emoji))
        if rating is None or (self.bot.user is not None and payload.user_id == self.bot.user.id):
            return
        try:
            await asyncio.to_thread(self._store_reaction, payload, rating, added)
        except Exception:  # noqa: BLE001 - a lost vote must never take the bot down
            log.exception("could not store a reaction vote on message %s", payload.message_id)

    def _store_reaction(self, payload: discord.RawReactionActionEvent, rating: int, added: bool) -> None:
        store, ref = self.bot.store, f"{payload.channel_id}:{payload.message_id}"
        # The message with the buttons, else any other part of a summary that was split.
        summary = store.find_summary_by_message("discord", ref) or store.find_summary_by_part("discord", ref)
        if summary is None:
            return
        if added:
            store.record_vote(summary.id, str(payload.user_id), rating, source="reaction")
        else:
            # Removing 👍 must not drop a 👎 given since: withdraw only a vote that still matches.
            store.withdraw_vote(summary.id, str(payload.user_id), rating)
        log.info("summary %s: reaction vote %s %+d", summary.id, "added" if added else "removed", rating)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_CUSTOM_ID):
    """A 👍 or 👎 button under a public summary."""

    def __init__(self, summary_id: int, rating: int) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji=UP if rating > 0 else DOWN,
                custom_id=vote_custom_id(summary_id, rating),
            )
        )
        self.summary_id, self.rating = summary_id, rating

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VoteButton:
        return cls(int(match["summary_id"]), 1 if match["rating"] == "up" else -1)

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: RecapBot = interaction.client  # type: ignore[assignment]
        voter = str(interaction.user.id)
        try:
            found = await asyncio.to_thread(self._record, bot, voter)
        except Exception:  # noqa: BLE001 - tell the user rather than fail the interaction silently
            log.exception("could not store a button vote for summary %s", self.summary_id)
            found = None
        if found is None:
            text = "Sorry, I couldn't record that vote right now."
        else:
            text = (
                f"Thanks! Your {UP if self.rating > 0 else DOWN} is recorded (it replaces any earlier vote)."
            )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    def _record(self, bot: RecapBot, voter: str) -> bool | None:
        if bot.store.get_summary(self.summary_id) is None:
            return None
        bot.store.record_vote(self.summary_id, voter, self.rating, source="button")
        log.info("summary %s: button vote %+d", self.summary_id, self.rating)
        return True
