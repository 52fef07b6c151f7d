"""A platform's "try again in X s" reschedules the job for now + X (a real burst worker, the Slack fake)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.slack_api import FakeSlackAPI
from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from worker_procs import assert_no_text_left, run_burst, slack_job, worker_env

from bot.queue import enqueue_summary, summary_queue
from bot.store import Store
from config.settings import Settings, set_active_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    fake = FakeSlackAPI().start()
    fake.add_channel("C1", "general")  # where an in-doubt post is looked for before posting again
    yield fake
    fake.stop()


@pytest.fixture
def slack_settings(settings: Settings, slack: FakeSlackAPI) -> Settings:
    active = settings.model_copy(update={"slack_api_url": slack.url})
    set_active_settings(active)
    return active


def make_due(connection: Redis, settings: Settings, job_id: str) -> None:
    registry = ScheduledJobRegistry(queue=summary_queue(settings, connection))
    job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    registry.schedule(job, datetime.now(UTC))


def scheduled_at(connection: Redis, settings: Settings, job_id: str) -> float | None:
    registry = ScheduledJobRegistry(queue=summary_queue(settings, connection))
    return connection.zscore(registry.key, job_id)


def test_a_429_reschedules_for_its_retry_after_then_delivers_once(
    redis_conn: Redis, slack_settings: Settings, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    slack.rate_limit_once["chat.postMessage"] = 120
    job = enqueue_summary(slack_job("slack:wait"), slack_settings, redis_conn)
    env = worker_env(slack_settings)
    failed_at = time.time()
    run_burst(env, tmp_path)
    score = scheduled_at(redis_conn, slack_settings, job.job_id)
    assert score is not None, "the job is not in the ScheduledJobRegistry"
    assert failed_at + 110 <= score <= time.time() + 125  # Retry-After, not RECAP_RETRY_INTERVALS_S (5 s)
    rq_job = Job.fetch(job.job_id, connection=redis_conn, serializer=JSONSerializer)
    assert rq_job.get_status() == JobStatus.SCHEDULED
    assert rq_job.retries_left == slack_settings.job_retries - 1  # one retry counted down, as usual
    assert not slack.posts()

    make_due(redis_conn, slack_settings, job.job_id)
    run_burst(env, tmp_path)
    posts = slack.calls_to("chat.postMessage")
    assert [call.accepted for call in posts] == [False, True]  # the 429, then exactly one post
    assert not slack.calls_to("chat.postEphemeral")  # no failure notice
    assert rq_job.get_status(refresh=True) == JobStatus.FINISHED
    assert_no_text_left(redis_conn, "hello there")


def test_past_the_delivery_window_the_summary_stays_stored_and_the_requester_is_told(
    redis_conn: Redis, slack_settings: Settings, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    slack.rate_limit_once["chat.postMessage"] = 120  # ends after the 60 s window below
    slack.rate_limit_once["chat.postEphemeral"] = 30  # and the notice itself is rate limited once
    job = enqueue_summary(slack_job("slack:late"), slack_settings, redis_conn)
    env = worker_env(slack_settings, RECAP_DELIVERY_WINDOWS_S='{"slack": 60}')
    run_burst(env, tmp_path)
    rq_job = Job.fetch(job.job_id, connection=redis_conn, serializer=JSONSerializer)
    assert rq_job.get_status() == JobStatus.FAILED
    assert "reply window" in rq_job.meta["user_error"]
    row = Store.from_settings(slack_settings).get_summary_by_request("slack:late")
    assert row is not None and row.delivered_at is None  # stored, undelivered
    assert 0 < redis_conn.ttl(rq_job.key) <= slack_settings.failed_job_ttl_s
    assert_no_text_left(redis_conn, "hello there")

    notice_id = next(iter(ScheduledJobRegistry(queue=summary_queue(slack_settings, redis_conn)).get_job_ids()))
    assert scheduled_at(redis_conn, slack_settings, notice_id) >= time.time() + 15  # put off by Retry-After
    make_due(redis_conn, slack_settings, notice_id)
    run_burst(env, tmp_path)
    notices = [call for call in slack.calls_to("chat.postEphemeral") if call.accepted]
    assert len(notices) == 1 and "reply window" in notices[0].params["text"]
    assert notices[0].params["user"] == "U1"
    assert not [call for call in slack.calls_to("chat.postMessage") if call.accepted]
