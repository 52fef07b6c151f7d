"""What a real worker run records per job: queue wait, its own share of the batch, delivery, overhead, backend."""

from __future__ import annotations

import logging
import time

import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.queue import SummaryJob, enqueue_summary
from bot.store import Store
from config.settings import Settings
from worker.main import build_worker

LINES = ["are we shipping the release on friday", "yes after the docs are done and reviewed by the team",
         "then I will tell the customers about the new export feature today"]


def dialogue(turns: int) -> str:
    return "\n".join(f"#Person{n % 2 + 1}#: {LINES[n % 3]}" for n in range(turns))


@pytest.mark.slow
def test_a_batch_of_three_records_each_jobs_own_share_and_queue_wait(
    redis_conn: Redis, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from worker.model.runtime import get_runtime

    runtime = get_runtime(settings)
    queued_at = time.time()
    jobs = [SummaryJob(request_id=f"playground:timed-{turns}", platform="playground", dialogue=dialogue(turns),
                       message_count=turns, workspace="local") for turns in (2, 6, 12)]
    ids = [enqueue_summary(job, settings, redis_conn).job_id for job in jobs]
    time.sleep(0.3)  # the jobs wait in the queue at least this long
    calls = runtime.model_calls
    with caplog.at_level(logging.INFO, "recap.worker.jobs"):
        build_worker(settings, redis_conn).work(burst=True)
    assert runtime.model_calls - calls == 1  # one batch for all three
    store = Store.from_settings(settings)
    rows = [store.get_summary_by_request(job.request_id) for job in jobs]
    assert all(row is not None for row in rows)
    batch_ms = rows[0].latency_ms  # type: ignore[union-attr]
    assert [row.latency_ms for row in rows] == [batch_ms] * 3  # type: ignore[union-attr]
    tokens = [row.input_tokens for row in rows]  # type: ignore[union-attr]
    shares = [row.generate_ms for row in rows]  # type: ignore[union-attr]
    assert tokens == sorted(tokens) and len(set(tokens)) == 3
    assert abs(sum(shares) - batch_ms) <= 2  # the shares add up to the batch, split by input tokens
    for share, count in zip(shares, tokens, strict=True):
        assert abs(share - batch_ms * count / sum(tokens)) <= 1
    for row in rows:
        assert row.queue_wait_ms is not None and 300 <= row.queue_wait_ms < (time.time() - queued_at) * 1000
        assert row.delivery_ms is not None and row.overhead_ms is not None and row.overhead_ms >= row.delivery_ms
        assert (row.backend, row.compute_type) == (runtime.backend_name, runtime.compute_type)
    for job_id in ids:
        done = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
        result = done.return_value()
        assert {"summary_id", "summary", "model", "adapter", "backend", "compute_type", "prompt_version"} <= set(result)
        assert (result["backend"], result["compute_type"]) == (runtime.backend_name, runtime.compute_type)
        assert done.meta["recap_stage"] == "summarizing" and queued_at < done.meta["recap_stage_since"] < time.time()
    per_job = [record.getMessage() for record in caplog.records if "queue wait" in record.getMessage()]
    assert len(per_job) == 3 and all("overhead" in line and "generate" in line for line in per_job)
    assert not any(word in caplog.text for word in ("shipping", "customers", "docs are done"))  # no text in logs


def test_a_job_alone_records_all_of_its_generate_time(redis_conn: Redis, settings: Settings) -> None:
    job = SummaryJob(request_id="playground:alone", platform="playground", dialogue=dialogue(4), message_count=4)
    job_id = enqueue_summary(job, settings, redis_conn).job_id
    build_worker(settings, redis_conn).work(burst=True)
    row = Store.from_settings(settings).get_summary_by_request(job.request_id)
    assert row is not None and row.generate_ms == row.latency_ms and row.queue_wait_ms is not None
    meta = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer).meta
    assert meta["recap_stage"] == "summarizing"
