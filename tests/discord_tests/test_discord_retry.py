"""Delivery is idempotent: a job retried after a partial delivery never posts a part twice; 429 handling."""

from __future__ import annotations

import time
from typing import Any

import discord
import pytest
from discord_helpers import (
    ALICE,
    BOB,
    CHANNEL,
    LONG,
    ago,
    discord_settings,
    interaction_payload,
    invoke,
    record_long_summary,
    run_worker,
    slash,
    start_bot,
    summary_queue,
    text_channel,
)
from fakes.discord_api import APPLICATION_ID, FakeDiscord
from redis import Redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.discord_app.deliver import deliver, render
from bot.queue import SummaryJob, job_id_for
from bot.store import Store

WEBHOOK = r"/webhooks/\d+/[^/]+"


async def test_retry_after_a_failed_part_posts_each_part_exactly_once(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis
) -> None:
    assert len(LONG) > 4000
    retrying = discord_settings(settings, fake_discord, retry_intervals_s=[0])  # retry at once
    for i in range(4):
        fake_discord.add_message(CHANNEL, ALICE if i % 2 else BOB, f"release step {i}", ago(minutes=30 - i))
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())
    bot = await start_bot(retrying)
    try:
        await invoke(bot, payload)
    finally:
        await bot.close()
    request_id = f"discord:{payload['id']}"
    store = Store.from_settings(retrying)
    summary_id = record_long_summary(store, request_id)
    fake_discord.fail_once("POST", WEBHOOK, 500)  # the 2nd part (the first follow-up) fails, once

    run_worker(retrying, redis_conn)

    attempts = fake_discord.answers()
    parts = len(attempts) - 1
    assert parts >= 3  # part 1 (the original response's edit), part 2 fails; the retry posts part 2 and the rest
    assert [a.status for a in attempts] == [200, 500] + [200] * (parts - 1)
    assert [a.method for a in attempts] == ["PATCH"] + ["POST"] * parts
    posted = [a.body["content"] for a in fake_discord.succeeded(attempts)]
    assert len(posted) == len(set(posted)) == parts  # each part exactly once
    assert posted[1] == attempts[1].body["content"]  # the retry re-sent the part that had failed
    assert all(len(c) <= 2000 and "Point" in c for c in posted)
    assert [("components" in a.body) for a in fake_discord.succeeded(attempts)] == [False] * (parts - 1) + [True]
    assert len(fake_discord.reactions()) == 2
    job = Job.fetch(job_id_for(request_id), connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED and job.retries_left == retrying.job_retries - 1
    row = store.get_summary(summary_id)
    assert row is not None and row.delivered_at is not None and row.message_ref
    assert row.message_ref.split(":")[1] == fake_discord.reactions()[0].path.split("/")[4]

    run_worker(retrying, redis_conn)  # nothing left to do: no more posts
    assert len(fake_discord.answers()) == parts + 1 and summary_queue(retrying, redis_conn).count == 0
    assert len(fake_discord.seen_by_user(payload["token"])) == parts


def direct_job(token: str, public: bool = True) -> SummaryJob:
    return SummaryJob(
        request_id=f"discord:{token}",
        platform="discord",
        dialogue="#Person1#: hi",
        message_count=4,
        public=public,
        destination={
            "application_id": str(APPLICATION_ID),
            "token": token,
            "channel_id": str(CHANNEL),
            "user_id": ALICE["id"],
            "created_at": time.time(),
            "public": public,
            "scope": "the last 24 h",
        },
    )


def test_429_waits_briefly_or_goes_back_to_rq_without_duplicates(
    fake_discord: FakeDiscord, dsettings: Any
) -> None:
    fake_discord.deferred("t429", CHANNEL)
    summary = DeliveredSummary(11, LONG, "tiny", None, "v1", 4)
    fake_discord.fail_once("POST", WEBHOOK, 429, {"message": "rate limited", "retry_after": 0.2, "global": False})
    fake_discord.fail_once("POST", WEBHOOK, 429, {"message": "slow down", "retry_after": 40, "global": False}, skip=1)

    started = time.monotonic()
    with pytest.raises(TransientDeliveryError, match="retry after 40") as raised:  # too long to wait: requeue
        deliver(direct_job("t429"), summary, dsettings)
    assert raised.value.retry_after_s == 40  # Discord's own wait, for the worker's reschedule
    assert time.monotonic() - started >= 0.2  # the short 429 was waited out inline
    assert [a.status for a in fake_discord.answers()] == [200, 429, 200, 429]

    ref = deliver(direct_job("t429"), summary, dsettings)  # the retry

    posted = [a.body["content"] for a in fake_discord.succeeded(fake_discord.answers())]
    assert len(posted) == len(set(posted)) == len(render(direct_job("t429"), summary)) and ref is not None
    assert [m["content"] for m in fake_discord.seen_by_user("t429")] == posted
    assert len(fake_discord.reactions()) == 2


def test_private_fallback_continues_a_partial_delivery_by_dm(fake_discord: FakeDiscord, dsettings: Any) -> None:
    """The follow-up posted part 1, then the token was revoked: the rest goes by DM, nothing twice."""
    fake_discord.deferred("revoked", CHANNEL, ephemeral=True)
    summary = DeliveredSummary(12, LONG, "tiny", None, "v1", 4)
    fake_discord.fail_once("POST", WEBHOOK, 503)  # part 2, the first follow-up
    with pytest.raises(TransientDeliveryError):
        deliver(direct_job("revoked", public=False), summary, dsettings)
    fake_discord.expired_tokens.add("revoked")

    deliver(direct_job("revoked", public=False), summary, dsettings)

    first = fake_discord.succeeded(fake_discord.answers())
    dm_channel = next(iter(fake_discord.dm_channels))
    rest = fake_discord.succeeded(fake_discord.channel_posts(dm_channel))
    contents = [r.body["content"] for r in first + rest]
    assert len(first) == 1 and len(rest) >= 2 and len(set(contents)) == len(contents)
    assert contents == render(direct_job("revoked", public=False), summary)  # the same parts, in order
    assert fake_discord.originals["revoked"]["flags"] & discord.MessageFlags(ephemeral=True).value
    assert fake_discord.channel_posts(CHANNEL) == []  # a private summary never lands in the channel


async def test_lost_answer_to_a_channel_post_is_not_posted_twice_on_retry(
    settings: Any, fake_discord: FakeDiscord, redis_conn: Redis
) -> None:
    """Token expired, public: the parts go to the channel. Part 2 is accepted but its answer is lost."""
    retrying = discord_settings(settings, fake_discord, retry_intervals_s=[0])
    for i in range(4):
        fake_discord.add_message(CHANNEL, ALICE if i % 2 else BOB, f"rollout step {i}", ago(minutes=40 - i))
    expired = ago(minutes=20)  # past the interaction token's 15 minutes by the time the worker runs
    command = slash("summarize", public=True)
    payload = interaction_payload(fake_discord, command, channel=text_channel(), created=expired)
    bot = await start_bot(retrying)
    try:
        await invoke(bot, payload)
    finally:
        await bot.close()
    request_id = f"discord:{payload['id']}"
    summary_id = record_long_summary(Store.from_settings(retrying), request_id)
    fake_discord.drop_response_once("POST", rf"/channels/{CHANNEL}/messages", skip=1)

    run_worker(retrying, redis_conn)  # attempt 1 dies on the lost answer; RQ's retry finishes the job

    attempts = fake_discord.channel_posts(CHANNEL)
    messages = fake_discord.posted[str(CHANNEL)]
    assert fake_discord.answers() == [] and len(messages) >= 3
    assert len(attempts) == len(messages) + 1  # part 2 was sent twice ...
    assert attempts[1].body == attempts[2].body and attempts[1].body["enforce_nonce"] is True
    contents = [m["content"] for m in messages]
    assert len(set(contents)) == len(contents)  # ... but exists once
    assert all(a.body["nonce"] for a in attempts) and len({a.body["nonce"] for a in attempts}) == len(messages)
    job = Job.fetch(job_id_for(request_id), connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED and job.retries_left == retrying.job_retries - 1
    row = Store.from_settings(retrying).get_summary(summary_id)
    assert row is not None and row.message_ref == f"{CHANNEL}:{messages[-1]['id']}"


def test_lost_answer_to_a_dm_part_is_not_sent_twice(fake_discord: FakeDiscord, dsettings: Any) -> None:
    """Private and expired: the summary goes by DM; the first part is delivered but its answer is lost."""
    job = direct_job("dm-lost", public=False)
    job.destination["created_at"] = time.time() - 20 * 60
    summary = DeliveredSummary(13, LONG, "tiny", None, "v1", 4)
    fake_discord.drop_response_once("POST", r"/channels/8\d+/messages")
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        deliver(job, summary, dsettings)

    deliver(job, summary, dsettings)  # RQ's retry

    dm_channel = next(iter(fake_discord.dm_channels))
    attempts, messages = fake_discord.channel_posts(dm_channel), fake_discord.posted[dm_channel]
    assert len(attempts) == len(messages) + 1 and len(messages) >= 3
    contents = [m["content"] for m in messages]
    assert len(set(contents)) == len(contents) and contents[0].startswith("Here is the private summary")
    assert fake_discord.channel_posts(CHANNEL) == []
