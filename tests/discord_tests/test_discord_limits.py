"""Discord's rate limits as https://discord.com/developers/docs/topics/rate-limits describes them.

The fake answers 429 with ``retry_after`` in the body and the ``Retry-After`` / ``X-RateLimit-*``
headers until the limit ends on its clock; ``advance`` stands in for the wait, and the rescheduled
job is made due instead of sleeping.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from discord_helpers import (
    ALICE,
    BOB,
    CHANNEL,
    ago,
    interaction_payload,
    invoke,
    make_due,
    run_worker,
    scheduled_at,
    slash,
    text_channel,
)
from fakes.discord_api import FakeDiscord
from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bot.discord_app.api import DiscordApi, DiscordRateLimited
from bot.queue import job_id_for, summary_queue
from bot.store import Store

ORIGINAL = r"/webhooks/\d+/[^/]+/messages/@original"


def seed(fake: FakeDiscord) -> None:
    for i in range(4):
        fake.add_message(CHANNEL, ALICE if i % 2 else BOB, f"rollout step {i}", ago(minutes=30 - i))


async def test_a_45_s_limit_reschedules_for_when_it_ends_and_delivers_once(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seed(fake_discord)
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())
    await invoke(bot, payload)
    fake_discord.rate_limit("PATCH", ORIGINAL, 45)
    job_id = job_id_for(f"discord:{payload['id']}")

    failed_at = time.time()
    run_worker(dsettings, redis_conn)

    score = scheduled_at(dsettings, redis_conn, job_id)
    assert score is not None and failed_at + 44 <= score <= time.time() + 46  # Discord's wait, not 5 s
    job = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == dsettings.job_retries - 1
    assert fake_discord.seen_by_user(payload["token"]) == []  # still "thinking…", nothing lost
    assert [r.status for r in fake_discord.original_edits()] == [429]  # no hammering inside the limit

    fake_discord.advance(46)
    make_due(dsettings, redis_conn, job_id)
    run_worker(dsettings, redis_conn, scheduled=True)

    [seen] = fake_discord.seen_by_user(payload["token"])
    assert seen["content"].startswith("**Summary** of 4 messages")
    assert [r.status for r in fake_discord.original_edits()] == [429, 200]
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    row = Store.from_settings(dsettings).get_summary_by_request(f"discord:{payload['id']}")
    assert row is not None and row.delivered_at is not None
    assert fake_discord.dm_channels == {} and fake_discord.channel_posts(CHANNEL) == []  # no failure notice
    assert "/webhooks/4242/{token}/messages/@original: rate limited (user)" in caplog.text
    assert payload["token"] not in caplog.text  # the interaction token is a credential


async def test_a_limit_longer_than_the_window_leaves_it_undelivered_and_tells_the_user_by_dm(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    seed(fake_discord)
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())
    await invoke(bot, payload)
    fake_discord.rate_limit("PATCH", ORIGINAL, 16 * 60)  # the interaction webhook, past its 15 minutes

    run_worker(dsettings, redis_conn)
    run_worker(dsettings, redis_conn)  # nothing is left to retry: the user is told once

    job = Job.fetch(job_id_for(f"discord:{payload['id']}"), connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED
    row = Store.from_settings(dsettings).get_summary_by_request(f"discord:{payload['id']}")
    assert row is not None and row.delivered_at is None  # stored, undelivered
    [dm_channel] = fake_discord.dm_channels
    [notice] = fake_discord.posted[dm_channel]  # the webhook is limited: the notice goes by DM
    assert "reply window" in notice["content"] and row.text not in notice["content"]
    assert fake_discord.channel_posts(CHANNEL) == []  # a private request is never mentioned in public


async def test_a_global_limit_puts_the_notice_off_until_it_ends(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    seed(fake_discord)
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())
    await invoke(bot, payload)
    fake_discord.rate_limit("ANY", r".*", 16 * 60, is_global=True)  # every route, the notice's too

    run_worker(dsettings, redis_conn)

    registry = ScheduledJobRegistry(queue=summary_queue(dsettings, redis_conn))
    [notice_job] = registry.get_job_ids()
    assert (scheduled_at(dsettings, redis_conn, notice_job) or 0) >= time.time() + 10 * 60  # when the limit ends
    assert fake_discord.seen_by_user(payload["token"]) == []
    fake_discord.advance(16 * 60 + 1)
    make_due(dsettings, redis_conn, notice_job)
    run_worker(dsettings, redis_conn, scheduled=True)
    [seen] = fake_discord.seen_by_user(payload["token"])  # the private "thinking…" became the notice
    assert "reply window" in seen["content"] and seen["flags"] & 64


def test_the_client_reads_every_limit_header_and_waits_only_when_short(
    fake_discord: FakeDiscord, dsettings: Any
) -> None:
    api = DiscordApi(dsettings)
    fake_discord.rate_limit("GET", r"/channels/1/messages", 0.4)
    started = time.monotonic()
    assert api.get("/channels/1/messages") == []  # a short limit is waited out inline
    assert time.monotonic() - started >= 0.3
    limited = fake_discord.find("GET", r"/channels/1/messages")[0]
    assert limited.status == 429 and len(fake_discord.find("GET", r"/channels/1/messages")) == 2

    fake_discord.rate_limit("ANY", r".*", 30, is_global=True)
    with pytest.raises(DiscordRateLimited) as raised:
        api.get("/channels/2/messages")
    assert raised.value.limit.is_global and 29 <= (raised.value.retry_after_s or 0) <= 31
    before = len(fake_discord.requests)
    with pytest.raises(DiscordRateLimited):  # another route: the global limit is known, no request is sent
        api.get("/channels/3/messages")
    assert len(fake_discord.requests) == before


async def test_a_long_limit_on_reading_history_is_explained_not_slept_through(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    seed(fake_discord)
    fake_discord.rate_limit("GET", rf"/channels/{CHANNEL}/messages", 120)
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())

    started = time.monotonic()
    await invoke(bot, payload)

    assert time.monotonic() - started < 10  # discord.py did not sleep for two minutes
    [reply] = fake_discord.answers()
    assert "limiting how fast I can read this channel" in reply.body["content"]
    assert "2 minutes" in reply.body["content"]
    assert summary_queue(dsettings, redis_conn).count == 0
