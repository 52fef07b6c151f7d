"""/summarize and "Summarize from here": defer, collect with pagination, enqueue, worker follow-up."""

from __future__ import annotations

import logging
from typing import Any

import discord
import pytest
from discord_helpers import (
    ALICE,
    BOB,
    CHANNEL,
    HELPER_BOT,
    THREAD,
    ago,
    context_menu,
    discord_settings,
    interaction_payload,
    invoke,
    run_worker,
    slash,
    start_bot,
    summary_queue,
    text_channel,
    thread_channel,
)
from fakes.discord_api import FakeDiscord
from redis import Redis

from bot.queue import fetch_job, job_id_for
from bot.store import Store


def queued_dialogue(payload: dict[str, Any], settings: Any, redis_conn: Redis) -> dict[str, Any]:
    job = fetch_job(job_id_for(f"discord:{payload['id']}"), settings, redis_conn)
    assert job is not None, "no job was queued"
    return job.args[0]


async def test_thread_gives_one_deferred_response_then_one_followup(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    for index in range(230):  # three history pages: 100 + 100 + 30
        author = ALICE if index % 2 else BOB
        fake_discord.add_message(
            THREAD, author, f"note {index} about the release plan", ago(hours=30, minutes=-index)
        )
    fake_discord.add_message(THREAD, HELPER_BOT, "automated reminder", ago(hours=1))
    fake_discord.add_message(THREAD, ALICE, "", ago(minutes=30), type=6)  # system: pinned a message
    payload = interaction_payload(fake_discord, slash("summarize"), channel=thread_channel())

    await invoke(bot, payload)

    [callback] = fake_discord.callbacks()
    assert callback.body["type"] == 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, i.e. "thinking"
    assert callback.body["data"]["flags"] & discord.MessageFlags(ephemeral=True).value
    pages = fake_discord.history_requests(THREAD)
    assert len(pages) == 3
    assert [p.query.get("before") is None for p in pages] == [True, False, False]
    job = queued_dialogue(payload, dsettings, redis_conn)
    assert job["message_count"] == 230 and job["thread"] == str(THREAD)
    assert "note 0 about" in job["dialogue"] and "note 229 about" in job["dialogue"]
    assert "automated reminder" not in job["dialogue"]
    assert fake_discord.answers() == []  # the worker answers, not the bot

    run_worker(dsettings, redis_conn)

    [followup] = fake_discord.answers()
    row = Store.from_settings(dsettings).get_summary_by_request(f"discord:{payload['id']}")
    assert row is not None and row.delivered_at is not None
    assert followup.body["content"].startswith("**Summary** of 230 messages (this thread):")
    assert row.text.strip() in followup.body["content"]
    assert followup.method == "PATCH"  # the "thinking…" response is edited into the summary
    [seen] = fake_discord.seen_by_user(payload["token"])
    assert seen["flags"] & discord.MessageFlags(ephemeral=True).value and seen["content"] == followup.body["content"]
    assert len(fake_discord.callbacks()) == 1


async def test_channel_hours_reads_only_that_window(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    for hours in (5, 4, 3, 2.5):
        fake_discord.add_message(CHANNEL, BOB, f"old topic from {hours} hours ago", ago(hours=hours))
    for index in range(250):
        fake_discord.add_message(
            CHANNEL, ALICE if index % 3 else BOB, f"fresh point {index}", ago(minutes=110 - index * 0.4)
        )
    payload = interaction_payload(fake_discord, slash("summarize", hours=2.0), channel=text_channel())

    await invoke(bot, payload)

    job = queued_dialogue(payload, dsettings, redis_conn)
    assert job["message_count"] == 250
    assert "old topic" not in job["dialogue"] and "fresh point 0" in job["dialogue"]
    cutoff = discord.utils.time_snowflake(ago(hours=2, minutes=1))
    pages = fake_discord.history_requests(CHANNEL)
    assert len(pages) == 3  # 100 + 100 + the page that crosses the window's start, then stop
    assert all(int(p.query["before"]) > cutoff for p in pages if "before" in p.query)
    assert job["destination"]["scope"] == "the last 2 h"


async def test_summarize_from_here_starts_at_the_chosen_message(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    messages = [
        fake_discord.add_message(CHANNEL, ALICE if i % 2 else BOB, f"step {i} done", ago(minutes=60 - i))
        for i in range(10)
    ]
    payload = interaction_payload(fake_discord, context_menu(messages[3]), channel=text_channel())

    await invoke(bot, payload)

    job = queued_dialogue(payload, dsettings, redis_conn)
    assert job["message_count"] == 7
    assert "step 2 done" not in job["dialogue"]
    assert job["dialogue"].index("step 3 done") < job["dialogue"].index("step 9 done")
    assert fake_discord.history_requests(CHANNEL)[0].query["after"] == messages[3]["id"]
    run_worker(dsettings, redis_conn)
    assert len(fake_discord.answers()) == 1


async def test_same_interaction_twice_gives_one_job_and_one_followup(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    for i in range(6):
        fake_discord.add_message(CHANNEL, ALICE if i % 2 else BOB, f"idea {i}", ago(minutes=30 - i))
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())

    await invoke(bot, payload)
    await invoke(bot, payload)  # a duplicate delivery of the same interaction

    assert len(fake_discord.callbacks()) == 1
    assert summary_queue(dsettings, redis_conn).count == 1
    run_worker(dsettings, redis_conn)
    run_worker(dsettings, redis_conn)
    assert len(fake_discord.answers()) == 1


async def test_capped_thread_tells_the_user_and_logs_no_message_text(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    capped = discord_settings(settings, fake_discord, max_messages=50)
    for index in range(60):
        fake_discord.add_message(THREAD, ALICE if index % 2 else BOB, f"secret plan {index}", ago(minutes=90 - index))
    payload = interaction_payload(fake_discord, slash("summarize"), channel=thread_channel())
    bot = await start_bot(capped)
    try:
        await invoke(bot, payload)
    finally:
        await bot.close()

    job = queued_dialogue(payload, capped, redis_conn)
    assert job["message_count"] == 50  # the newest 50
    assert "secret plan 59" in job["dialogue"] and "secret plan 9 " not in job["dialogue"] + " "
    run_worker(capped, redis_conn)
    [followup] = fake_discord.answers()
    assert "I stopped at the limit of 50 messages, so older ones were left out" in followup.body["content"]
    assert "secret plan" not in caplog.text  # ids and counts only, never message text


async def test_thread_with_no_messages_from_people_gets_a_clear_reply_and_no_job(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    fake_discord.add_message(THREAD, HELPER_BOT, "build passed", ago(minutes=5))
    await invoke(bot, interaction_payload(fake_discord, slash("summarize"), channel=thread_channel()))
    [reply] = fake_discord.answers()
    assert "nothing to summarize" in reply.body["content"].lower() and reply.body["flags"] & 64
    assert summary_queue(dsettings, redis_conn).count == 0
