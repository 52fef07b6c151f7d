"""Admin checks, Redis outages, rate limits, missing permissions and a missing Message Content intent."""

from __future__ import annotations

from typing import Any

import discord
from discord_helpers import (
    ADMIN_PERMISSIONS,
    ALICE,
    BOB,
    CHANNEL,
    GUILD,
    ago,
    discord_settings,
    interaction_payload,
    invoke,
    slash,
    start_bot,
    summary_queue,
    text_channel,
)
from fakes.discord_api import FakeDiscord
from redis import Redis

from bot.store import Store

EPHEMERAL = discord.MessageFlags(ephemeral=True).value


def seed(fake: FakeDiscord) -> None:
    for i in range(4):
        fake.add_message(CHANNEL, ALICE if i % 2 else BOB, f"topic {i}", ago(minutes=30 - i))


def last_reply(fake: FakeDiscord) -> dict[str, Any]:
    """The text the user saw last: an immediate response, or a follow-up after the defer."""
    followups = fake.answers()
    if followups:
        return followups[-1].body
    return fake.callbacks()[-1].body["data"]


async def test_non_admin_is_refused_an_admin_command(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any
) -> None:
    command = bot.tree.get_command("recap-sharing")
    assert command.default_permissions.manage_guild  # only a hint: server admins can re-grant it to anyone
    store = Store.from_settings(dsettings)

    await invoke(
        bot,
        interaction_payload(
            fake_discord, slash("recap-sharing", enabled=True), channel=text_channel(), who=BOB
        ),
    )

    reply = fake_discord.callbacks()[-1].body
    assert reply["type"] == 4 and reply["data"]["flags"] & EPHEMERAL
    assert "Manage Server" in reply["data"]["content"]
    assert not store.sharing_enabled("discord", str(GUILD))

    await invoke(
        bot,
        interaction_payload(
            fake_discord,
            slash("recap-sharing", enabled=True),
            channel=text_channel(),
            permissions=ADMIN_PERMISSIONS,
        ),
    )
    assert store.sharing_enabled("discord", str(GUILD))


async def test_redis_down_gives_a_clear_reply_and_no_job(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis
) -> None:
    seed(fake_discord)
    down = discord_settings(settings, fake_discord, redis_url="redis://127.0.0.1:1/0")
    bot = await start_bot(down)
    try:
        await invoke(bot, interaction_payload(fake_discord, slash("summarize"), channel=text_channel()))
    finally:
        await bot.close()
    reply = last_reply(fake_discord)
    assert "queue is not reachable" in reply["content"] and reply["flags"] & EPHEMERAL
    assert summary_queue(settings, redis_conn).count == 0 and not redis_conn.keys("rq:job:*")


async def test_rate_limit_gives_a_clear_reply_and_no_job(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis
) -> None:
    seed(fake_discord)
    limited = discord_settings(settings, fake_discord, rate_limit_requests=1)
    bot = await start_bot(limited)
    try:
        await invoke(bot, interaction_payload(fake_discord, slash("summarize"), channel=text_channel()))
        assert summary_queue(limited, redis_conn).count == 1
        await invoke(bot, interaction_payload(fake_discord, slash("summarize"), channel=text_channel()))
    finally:
        await bot.close()
    reply = last_reply(fake_discord)
    assert "many summaries" in reply["content"] and reply["flags"] & EPHEMERAL
    assert reply["allowed_mentions"] == {"parse": []}
    assert summary_queue(limited, redis_conn).count == 1


async def test_missing_permission_is_named(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    seed(fake_discord)
    cannot_read = discord.Permissions(view_channel=True, send_messages=True)
    await invoke(
        bot,
        interaction_payload(
            fake_discord, slash("summarize"), channel=text_channel(), app_permissions=cannot_read
        ),
    )
    assert "Read Message History" in last_reply(fake_discord)["content"]
    assert fake_discord.history_requests(CHANNEL) == [] and summary_queue(dsettings, redis_conn).count == 0


async def test_message_content_intent_off_is_explained(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis
) -> None:
    fake_discord.application_flags = 0  # the intent is not enabled in the Developer Portal
    for i in range(3):
        fake_discord.add_message(CHANNEL, ALICE if i % 2 else BOB, "", ago(minutes=10 - i))  # how they arrive
    bot = await start_bot(discord_settings(settings, fake_discord))
    try:
        assert not bot.intents.message_content  # dropped, so the gateway accepts the bot
        await invoke(bot, interaction_payload(fake_discord, slash("summarize"), channel=text_channel()))
    finally:
        await bot.close()
    assert "Message Content" in last_reply(fake_discord)["content"]
