"""👍 / 👎 on public summaries: raw reaction events and persistent buttons, one live vote per user."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from discord_helpers import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    GUILD,
    ago,
    button,
    interaction_payload,
    invoke,
    record_long_summary,
    run_worker,
    slash,
    text_channel,
    until,
)
from fakes.discord_api import FakeDiscord
from redis import Redis

from bot.discord_app.rest import DOWN, UP, vote_components, vote_custom_id
from bot.store import Store


def reaction(user: dict[str, Any], message_ref: str, emoji: str) -> dict[str, Any]:
    channel_id, message_id = message_ref.split(":")
    return {
        "user_id": user["id"],
        "channel_id": channel_id,
        "message_id": message_id,
        "guild_id": str(GUILD),
        "emoji": {"id": None, "name": emoji},
        "type": 0,
        "burst": False,
    }


async def test_reaction_and_button_votes_one_live_vote_per_user(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    for i in range(4):
        fake_discord.add_message(CHANNEL, ALICE if i % 2 else BOB, f"decision {i}", ago(minutes=30 - i))
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())
    await invoke(bot, payload)
    run_worker(dsettings, redis_conn)
    store = Store.from_settings(dsettings)
    row = store.get_summary_by_request(f"discord:{payload['id']}")
    assert row is not None and row.message_ref
    assert len(fake_discord.reactions()) == 2  # the bot seeded 👍 and 👎
    state = bot._connection

    # Reactions arrive as raw gateway events (the message is not in discord.py's cache).
    state.parse_message_reaction_add(reaction(BOB, row.message_ref, UP))
    assert await until(lambda: [v.rating for v in store.votes(row.id)] == [1])
    state.parse_message_reaction_add(reaction(BOB, row.message_ref, DOWN))
    assert await until(lambda: [v.rating for v in store.votes(row.id)] == [-1])
    state.parse_message_reaction_remove(reaction(BOB, row.message_ref, UP))  # the stale 👍 goes away
    state.parse_message_reaction_add(reaction(fake_discord.bot_user, row.message_ref, UP))  # the bot's own
    await asyncio.sleep(0.3)
    assert [(v.rating, v.source) for v in store.votes(row.id)] == [(-1, "reaction")]

    # Buttons: the summary id travels in the custom_id (a persistent DynamicItem).
    _, message_id = row.message_ref.split(":")
    message = {
        **fake_discord.message(CHANNEL, fake_discord.bot_user, "summary", datetime.now(UTC)),
        "id": message_id,
        "components": vote_components(row.id),
    }
    for rating in (1, -1):
        click = interaction_payload(
            fake_discord,
            button(vote_custom_id(row.id, rating)),
            channel=text_channel(),
            who=CAROL,
            kind=3,
            message=message,
        )
        state.parse_interaction_create(click)
        assert await until(
            lambda c=click: any(
                r.path.startswith(f"/interactions/{c['id']}/") for r in fake_discord.callbacks()
            )
        )
    votes = sorted((v.rating, v.source) for v in store.votes(row.id))
    assert votes == [(-1, "button"), (-1, "reaction")]
    reply = fake_discord.callbacks()[-1].body
    assert reply["type"] == 4 and DOWN in reply["data"]["content"] and reply["data"]["flags"] & 64


async def test_a_reaction_on_any_part_of_a_split_summary_counts(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    for i in range(4):
        fake_discord.add_message(CHANNEL, ALICE if i % 2 else BOB, f"milestone {i}", ago(minutes=30 - i))
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())
    await invoke(bot, payload)
    store = Store.from_settings(dsettings)
    summary_id = record_long_summary(store, f"discord:{payload['id']}")
    run_worker(dsettings, redis_conn)
    parts = [f"{CHANNEL}:{m['id']}" for m in fake_discord.posted[str(CHANNEL)]]
    row = store.get_summary(summary_id)
    assert len(parts) >= 3 and row is not None and row.message_ref == parts[-1]  # the buttons' part
    state = bot._connection

    state.parse_message_reaction_add(reaction(BOB, parts[1], UP))  # part 2
    assert await until(lambda: [(v.rating, v.source) for v in store.votes(summary_id)] == [(1, "reaction")])
    state.parse_message_reaction_add(reaction(CAROL, parts[0], DOWN))  # part 1
    assert await until(lambda: sorted(v.rating for v in store.votes(summary_id)) == [-1, 1])
    state.parse_message_reaction_remove(reaction(BOB, parts[1], UP))
    assert await until(lambda: [v.rating for v in store.votes(summary_id)] == [-1])
