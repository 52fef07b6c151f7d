"""`/recap-report`: Manage Server checked by the bot, deferred ephemerally, text plus the HTML attachment."""

from __future__ import annotations

from typing import Any

import discord
from discord_helpers import ADMIN_PERMISSIONS, BOB, GUILD, interaction_payload, invoke, slash, text_channel
from fakes.discord_api import FakeDiscord

from bot.store import Store

EPHEMERAL = discord.MessageFlags(ephemeral=True).value


def seed_feedback(store: Store) -> None:
    """Two summaries, three votes: two 👍, one 👎."""
    for n in range(2):
        summary_id = store.record_summary(
            request_id=f"discord:seed:{n}", platform="discord", workspace=str(GUILD), channel="1",
            model="flan-t5-base", adapter=None, prompt_version="v1", text=f"Summary {n}.",
            latency_ms=700 + 100 * n,
        )
        store.record_vote(summary_id, f"voter-{n}", 1)
    store.record_vote(summary_id, "voter-x", -1)


async def test_admin_gets_ephemeral_followup_with_the_html(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any
) -> None:
    seed_feedback(Store.from_settings(dsettings))
    await invoke(
        bot,
        interaction_payload(
            fake_discord, slash("recap-report"), channel=text_channel(), permissions=ADMIN_PERMISSIONS
        ),
    )

    (defer,) = fake_discord.callbacks()
    assert defer.body["type"] == 5 and defer.body["data"]["flags"] & EPHEMERAL  # deferred, private
    (followup,) = fake_discord.followups()
    assert followup.body["flags"] & EPHEMERAL
    assert followup.body["allowed_mentions"] == {"parse": []}
    assert "2 summaries, 3 votes" in followup.body["content"]
    ((name, data),) = followup.files
    assert name == "recap-report.html"
    page = data.decode("utf-8")
    assert "<html" in page and "2 summaries, 3 votes" in page


async def test_member_without_manage_server_is_refused(bot: Any, fake_discord: FakeDiscord) -> None:
    command = bot.tree.get_command("recap-report")
    assert command.default_permissions.manage_guild  # only a hint: admins can re-grant it to anyone
    await invoke(bot, interaction_payload(fake_discord, slash("recap-report"), channel=text_channel(), who=BOB))

    (reply,) = fake_discord.callbacks()
    assert reply.body["type"] == 4 and reply.body["data"]["flags"] & EPHEMERAL
    assert "Manage Server" in reply.body["data"]["content"]
    assert not fake_discord.followups()  # no report, no attachment
