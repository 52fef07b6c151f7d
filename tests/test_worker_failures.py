"""The failure policy on real RQ jobs in a real Redis: which errors are waited out, and for how long."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy.exc import OperationalError
from worker_procs import slack_job, wait_until

from bot.delivery import TransientDeliveryError
from bot.queue import enqueue_summary, summary_queue
from bot.store.store import StoreError
from config.settings import Settings
from worker import failures, jobs
from worker.recovery import recover_intermediate, recover_started


def queued(settings: Settings, connection: Redis, request_id: str = "slack:policy") -> Job:
    enqueued = enqueue_summary(slack_job(request_id), settings, connection)
    return Job.fetch(enqueued.job_id, connection=connection, serializer=JSONSerializer)


def locked() -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


def test_store_faults_are_recognised_also_when_wrapped() -> None:
    assert failures.is_store_fault(locked())
    try:
        try:
            raise locked()
        except OperationalError as exc:
            raise StoreError("Cannot open the store at RECAP_STORE_URL (sqlite:///x.db)") from exc
    except StoreError as wrapped:
        assert failures.is_store_fault(wrapped)
    assert not failures.is_store_fault(ValueError("bad input"))
    missing_table = OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such table: summaries"))
    assert not failures.is_store_fault(missing_table)  # a schema problem does not pass by waiting
    assert "store" in jobs.user_message_for(locked())


def test_a_store_fault_is_retried_without_spending_retries_until_the_window_ends(
    redis_conn: Redis, settings: Settings
) -> None:
    job = queued(settings, redis_conn)
    before = job.retries_left
    decision = failures.decide(job, locked(), "slack", settings)
    assert decision.retry and job.retries_left == before + 1  # RQ's job.retry counts one down again
    assert job.get_retry_interval() == 1  # first backoff step
    job.meta[failures.FAULT_SINCE_META] = time.time() - settings.store_retry_window_s - 1
    late = failures.decide(job, locked(), "slack", settings)
    assert not late.retry and late.message == failures.STORE_MESSAGE


def test_a_platform_wait_sets_the_next_retry_and_then_the_configured_intervals_return(
    redis_conn: Redis, settings: Settings
) -> None:
    job = queued(settings, redis_conn)
    assert failures.decide(job, TransientDeliveryError("429", retry_after_s=42.2), "slack", settings).retry
    assert job.get_retry_interval() == 43
    assert failures.decide(job, TransientDeliveryError("503"), "slack", settings).retry
    assert job.retry_intervals == settings.retry_intervals_s


def test_an_abandoned_job_keeps_its_retries(redis_conn: Redis, settings: Settings) -> None:
    job = queued(settings, redis_conn)
    before = job.retries_left
    decision = failures.decide(job, AbandonedJobError(), "slack", settings)
    assert decision.retry and job.retries_left == before


@pytest.mark.parametrize("dead", [True, False])
def test_the_recovery_pass_requeues_only_jobs_nobody_runs(redis_conn: Redis, settings: Settings, dead: bool) -> None:
    from worker.main import build_worker

    worker = build_worker(settings, redis_conn)
    queue = summary_queue(settings, redis_conn)
    queued(settings, redis_conn, "slack:orphan")
    taken = queue.dequeue_any([queue], None, connection=redis_conn, serializer=JSONSerializer)
    assert taken is not None
    job = taken[0]
    worker.prepare_execution(job)  # what a worker does when it starts a job; then it "dies" (no alive key)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    if not dead:
        redis_conn.set(f"recap:worker:alive:{worker.name}", job.id, ex=30)
    assert recover_started(redis_conn, queue, settings.worker_alive_ttl_s) == (1 if dead else 0)
    assert (queue.get_job_ids() == [job.id]) is dead
    if dead:
        requeued = Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer)
        assert requeued.retries_left == settings.job_retries and redis_conn.ttl(job.key) > 0
        assert recover_intermediate(redis_conn, queue) == 0


def test_recap_scheduler_runs_the_recovery_pass(redis_conn: Redis, settings: Settings, tmp_path: Path) -> None:
    from worker.main import build_worker

    queue = summary_queue(settings, redis_conn)
    queued(settings, redis_conn, "slack:stranded")
    job = queue.dequeue_any([queue], None, connection=redis_conn, serializer=JSONSerializer)[0]
    vanished = build_worker(settings, redis_conn)  # starts the job, then is gone (it never had an alive key)
    vanished.prepare_execution(job)
    vanished.prepare_job_execution(job, remove_from_intermediate_queue=True)
    env = dict(os.environ, RECAP_REDIS_URL=settings.redis_url, RECAP_STORE_URL=settings.store_url,
               RECAP_RECOVERY_INTERVAL_S="1")
    scheduler = subprocess.Popen([sys.executable, "-m", "recap", "scheduler", "--interval", "5"], env=env,
                                 cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        requeued = wait_until(lambda: queue.get_job_ids() == [job.id], 40)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        output = scheduler.communicate(timeout=30)[0].decode()
    assert requeued, output[-3000:]
    assert "requeued: its worker" in output
    assert Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer).retries_left == settings.job_retries
