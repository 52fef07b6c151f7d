"""Every Discord mention form is resolved before the model sees it, and nothing posted can ping."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord_helpers import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    SNOWFLAKE,
    ago,
    interaction_payload,
    invoke,
    run_worker,
    slash,
    text_channel,
)
from fakes.discord_api import FakeDiscord
from redis import Redis

from bot.queue import fetch_job, job_id_for


async def test_mention_forms_are_resolved_and_posts_ping_nobody(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    role, other = SNOWFLAKE + 555, SNOWFLAKE + 4444
    fake_discord.roles = [
        {
            "id": str(role),
            "name": "Moderators",
            "color": 0,
            "hoist": False,
            "position": 1,
            "permissions": "0",
            "managed": False,
            "mentionable": True,
            "flags": 0,
        }
    ]
    fake_discord.guild_channels = [
        {**text_channel(), "name": "general"},
        {**text_channel(other), "name": "releases"},
    ]
    first = fake_discord.add_message(
        CHANNEL,
        ALICE,
        f"hey <@{BOB['id']}> and <@!{CAROL['id']}>, <@&{role}> please check <#{other}> @everyone",
        ago(minutes=20),
        mentions=[BOB, CAROL],
        mention_roles=[str(role)],
    )
    fake_discord.add_message(
        CHANNEL,
        BOB,
        "ship it <:party:777> <a:dance:778> before <t:1700000000:D>",
        ago(minutes=19),
        type=19,
        message_reference={"message_id": first["id"], "channel_id": str(CHANNEL)},
        referenced_message=first,
    )
    fake_discord.add_message(
        CHANNEL,
        ALICE,
        "",
        ago(minutes=18),
        attachments=[
            {"id": "9", "filename": "photo.png", "size": 10, "url": "https://cdn/x", "proxy_url": "x"}
        ],
        sticker_items=[{"id": "31", "name": "wave", "format_type": 1}],
    )
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())

    await invoke(bot, payload)

    job = fetch_job(job_id_for(f"discord:{payload['id']}"), dsettings, redis_conn)
    assert job is not None
    dialogue = job.args[0]["dialogue"]
    assert not re.search(r"<[@#:at]|@everyone|@here", dialogue), dialogue
    assert "#Person2#" in dialogue and "Carol" in dialogue  # Bob speaks (tag), Carol is only mentioned
    assert "@Moderators" in dialogue and "#releases" in dialogue
    assert ":party:" in dialogue and ":dance:" in dialogue and "14 November 2023" in dialogue
    assert "(replying to #Person1#)" in dialogue
    assert "[image: photo.png]" in dialogue and "[sticker: wave]" in dialogue

    run_worker(dsettings, redis_conn)

    posts = fake_discord.answers()
    assert posts
    for post in posts:
        assert post.body["allowed_mentions"] == {"parse": []}
        assert post.body["flags"] & discord.MessageFlags(suppress_embeds=True).value
