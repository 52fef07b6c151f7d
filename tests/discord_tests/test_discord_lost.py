"""Requests Discord applied whose answers never arrived: treated as "maybe applied", never repeated blindly."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from discord_helpers import (
    ALICE,
    BOB,
    CHANNEL,
    ago,
    discord_settings,
    interaction_payload,
    invoke,
    record_long_summary,
    run_worker,
    slash,
    start_bot,
    text_channel,
)
from fakes.discord_api import FakeDiscord
from redis import Redis

from bot.discord_app.deliver import render
from bot.queue import SummaryJob, fetch_job, job_id_for
from bot.store import Store
from worker.delivery import DeliveredSummary

CALLBACK = r"/interactions/\d+/[^/]+/callback"
ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original"
FOLLOWUP = r"/webhooks/\d+/[^/]+"


def seed(fake: FakeDiscord) -> None:
    for i in range(4):
        fake.add_message(CHANNEL, ALICE if i % 2 else BOB, f"budget line {i}", ago(minutes=30 - i))


async def test_a_deferral_applied_without_an_answer_still_gets_its_summary_once(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seed(fake_discord)
    fake_discord.drop_response_once("POST", CALLBACK)  # Discord shows "thinking…"; the bot hears nothing
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())

    await invoke(bot, payload)

    assert fetch_job(job_id_for(f"discord:{payload['id']}"), dsettings, redis_conn) is not None  # still queued
    [callback] = fake_discord.callbacks()  # no second answer (it would be 40060, already acknowledged)
    assert fake_discord.answers() == []  # and no error reply
    run_worker(dsettings, redis_conn)
    [seen] = fake_discord.seen_by_user(payload["token"])
    assert seen["content"].startswith("**Summary** of 4 messages") and seen["flags"] & 64
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_first_part_applied_without_an_answer_reaches_the_user_once(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis
) -> None:
    retrying = discord_settings(settings, fake_discord, retry_intervals_s=[0])  # retry at once
    seed(fake_discord)
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())
    bot = await start_bot(retrying)
    try:
        await invoke(bot, payload)
    finally:
        await bot.close()
    fake_discord.drop_response_once("PATCH", ORIGINAL)  # the summary is shown, the answer is lost

    run_worker(retrying, redis_conn)

    assert len(fake_discord.original_edits()) == 2  # the retry repeats the edit, which changes nothing
    assert fake_discord.find("POST", FOLLOWUP) == []
    [seen] = fake_discord.seen_by_user(payload["token"])  # exactly one copy
    assert seen["content"].startswith("**Summary** of 4 messages")
    row = Store.from_settings(retrying).get_summary_by_request(f"discord:{payload['id']}")
    assert row is not None and row.delivered_at is not None and row.message_ref == f"{CHANNEL}:{seen['id']}"


async def test_a_later_public_part_applied_without_an_answer_is_found_not_reposted(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis
) -> None:
    retrying = discord_settings(settings, fake_discord, retry_intervals_s=[0])
    seed(fake_discord)
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())
    bot = await start_bot(retrying)
    try:
        await invoke(bot, payload)
    finally:
        await bot.close()
    request_id = f"discord:{payload['id']}"
    summary_id = record_long_summary(Store.from_settings(retrying), request_id)
    fake_discord.drop_response_once("POST", FOLLOWUP)  # part 2 is posted, its answer lost

    run_worker(retrying, redis_conn)

    seen = [m["content"] for m in fake_discord.seen_by_user(payload["token"])]
    queued = fetch_job(job_id_for(request_id), retrying, redis_conn)
    row = Store.from_settings(retrying).get_summary(summary_id)
    assert queued is not None and row is not None and row.delivered_at is not None
    summary = DeliveredSummary(summary_id, row.text, "tiny", None, "v1", 4)
    expected = render(SummaryJob.from_payload(queued.args[0]), summary)
    assert seen == expected and len(expected) >= 3  # every part once, in order
    assert len(fake_discord.find("POST", FOLLOWUP)) == len(expected) - 1  # part 2 was not sent again
    assert fake_discord.find("GET", rf"/channels/{CHANNEL}/messages")  # it was looked up instead


async def test_a_deferral_that_never_landed_still_gets_the_summary_to_the_user_by_dm(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    seed(fake_discord)
    fake_discord.drop_response_once("POST", CALLBACK, applied=False)  # lost on its way to Discord
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())

    await invoke(bot, payload)
    run_worker(dsettings, redis_conn)

    assert [r.status for r in fake_discord.original_edits()] == [404]  # no "thinking…" message to edit
    [dm_channel] = fake_discord.dm_channels
    [summary] = fake_discord.posted[dm_channel]
    assert summary["content"].startswith("Here is the private summary") and "**Summary** of 4" in summary["content"]
    assert fake_discord.channel_posts(CHANNEL) == []  # private stays private
