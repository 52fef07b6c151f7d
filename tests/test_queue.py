"""The queue against the real Redis, with the worker run inline on the tiny T5."""

from __future__ import annotations

import json
import zlib

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from bot.queue import (
    JOB_SCHEMA_VERSION,
    QueueUnavailableError,
    SummaryJob,
    enqueue_summary,
    job_id_for,
    summary_queue,
)
from bot.store import Store
from config.settings import Settings, load_settings, set_active_settings
from worker.main import build_worker

DIALOGUE = "#Person1#: Are we shipping on Friday?\n#Person2#: Yes, after the docs are done."


def make_job(request_id: str = "playground:req-1", **extra: object) -> SummaryJob:
    fields: dict[str, object] = dict(
        request_id=request_id, platform="playground", dialogue=DIALOGUE,
        speakers={"#Person1#": "Alice", "#Person2#": "Bob"}, message_count=2,
    )
    fields.update(extra)
    return SummaryJob(**fields)  # type: ignore[arg-type]


def run_inline(redis_conn: Redis, settings: Settings) -> None:
    queue = summary_queue(settings, redis_conn)
    SimpleWorker([queue], connection=redis_conn, serializer=JSONSerializer).work(burst=True)


def test_job_flows_from_enqueue_to_a_stored_summary(redis_conn: Redis, settings: Settings) -> None:
    enqueued = enqueue_summary(make_job(), settings, redis_conn)
    assert enqueued.created
    run_inline(redis_conn, settings)
    job = Job.fetch(enqueued.job_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FINISHED
    result = job.return_value()
    row = Store.from_settings(settings).get_summary(result["summary_id"])
    assert row is not None
    assert row.request_id == "playground:req-1"
    assert row.model == settings.model and row.prompt_version.startswith("summarize-v1")
    assert row.input_tokens > 0 and row.delivered_at is not None
    assert result["summary"] == row.text


def test_same_request_enqueued_twice_gives_one_job_and_one_summary(redis_conn: Redis, settings: Settings) -> None:
    first = enqueue_summary(make_job(), settings, redis_conn)
    second = enqueue_summary(make_job(), settings, redis_conn)
    assert first.job_id == second.job_id == job_id_for("playground:req-1")
    assert (first.created, second.created) == (True, False)
    assert summary_queue(settings, redis_conn).count == 1
    run_inline(redis_conn, settings)
    assert len(Store.from_settings(settings).recent_summaries()) == 1


def test_payload_is_json_with_a_schema_version_and_no_pickle(redis_conn: Redis, settings: Settings) -> None:
    enqueued = enqueue_summary(make_job(), settings, redis_conn)
    raw = redis_conn.hget(f"rq:job:{enqueued.job_id}", "data")
    assert raw is not None
    data = zlib.decompress(raw)  # RQ compresses the serialized call
    assert not data.startswith(b"\x80")  # pickle streams start with PROTO 0x80
    func, instance, args, kwargs = json.loads(data)
    assert func == "worker.jobs.summarize"
    assert args[0]["version"] == JOB_SCHEMA_VERSION and args[0]["dialogue"] == DIALOGUE


def test_result_and_failure_ttls_are_short(redis_conn: Redis, settings: Settings) -> None:
    enqueued = enqueue_summary(make_job(), settings, redis_conn)
    job = Job.fetch(enqueued.job_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.result_ttl == settings.result_ttl_s == 600
    assert job.failure_ttl == settings.failure_ttl_s == 6 * 3600
    run_inline(redis_conn, settings)
    assert 0 < redis_conn.ttl(f"rq:job:{enqueued.job_id}") <= settings.result_ttl_s


def test_bad_model_path_fails_once_with_a_reason_and_no_retry(redis_conn: Redis, settings: Settings) -> None:
    broken = settings.model_copy(update={"model": "/nonexistent/model"})
    set_active_settings(broken)
    enqueued = enqueue_summary(make_job(), broken, redis_conn)
    run_inline(redis_conn, broken)
    job = Job.fetch(enqueued.job_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED
    assert enqueued.job_id in FailedJobRegistry(queue=summary_queue(broken, redis_conn)).get_job_ids()
    assert "RECAP_MODEL" in (job.latest_result().exc_string or "")
    assert "RECAP_MODEL" in job.meta["user_error"]


def test_redis_down_gives_a_clear_error() -> None:
    down = load_settings(redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(QueueUnavailableError, match="not reachable"):
        enqueue_summary(make_job(), down)


@pytest.mark.slow
def test_waiting_jobs_are_summarized_in_one_batch(redis_conn: Redis, settings: Settings) -> None:
    from worker.model.runtime import get_runtime

    runtime = get_runtime(settings)
    for index in range(3):
        enqueue_summary(make_job(f"playground:batch-{index}", dialogue=f"{DIALOGUE} ({index})"), settings, redis_conn)
    calls_before = runtime.model_calls
    build_worker(settings, redis_conn).work(burst=True)
    assert runtime.model_calls - calls_before == 1
    assert len(Store.from_settings(settings).recent_summaries()) == 3
    assert Queue(settings.queue_name, connection=redis_conn).count == 0
