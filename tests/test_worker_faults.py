"""Faults with real `recap worker` processes: kill -9, Redis and the store going away, SIGTERM in a batch,
a job expiring in the queue, Redis down at start-up. "Delivered" = the Slack fake accepted the post."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.slack_api import FakeSlackAPI
from redis import Redis
from rq import Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from worker_procs import (
    RedisServer,
    TcpProxy,
    assert_no_text_left,
    children_of,
    free_port,
    slack_job,
    start_worker,
    stop,
    wait_until,
    worker_env,
)

from bot.queue import enqueue_summary, summary_queue
from bot.store import Store
from config.settings import Settings, set_active_settings
from worker.recovery import EXPIRED_MESSAGE, ROUTE_KEY

pytestmark = pytest.mark.slow

TEXT = "hello there"  # in every test dialogue: must never stay in a failed job, nor reach the logs
# A job that takes a while even on an idle machine: map-reduced in many parts, beams, long outputs.
LONG_TEXT = TEXT + " and then we talked about the plan for the week" * 60
SLOW = {"RECAP_MIN_NEW_TOKENS": "200", "RECAP_MAX_NEW_TOKENS": "210", "RECAP_NUM_BEAMS": "4",
        "RECAP_MAX_INPUT_TOKENS": "64"}
MEDIUM_TEXT = TEXT + " and then we talked about the plan for the week" * 15
MEDIUM = {"RECAP_MIN_NEW_TOKENS": "60", "RECAP_MAX_NEW_TOKENS": "64", "RECAP_MAX_INPUT_TOKENS": "64"}


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    fake = FakeSlackAPI().start()
    fake.add_channel("C1", "general")
    yield fake
    fake.stop()


@pytest.fixture
def fault_settings(settings: Settings, slack: FakeSlackAPI) -> Iterator[Settings]:
    active = settings.model_copy(update={"slack_api_url": slack.url})
    set_active_settings(active)
    yield active


def deliveries(fake: FakeSlackAPI) -> collections.Counter[str]:
    """Accepted first parts per request (a summary's header part), from the fake's record."""
    counts: collections.Counter[str] = collections.Counter()
    for call in fake.calls_to("chat.postMessage"):
        payload = (call.params.get("metadata") or {}).get("event_payload") or {}
        if call.accepted and payload.get("part") == 0:
            counts[payload["request"]] += 1
    return counts


def failure_notices(fake: FakeSlackAPI) -> list[str]:
    return [call.params.get("text", "") for call in fake.calls_to("chat.postEphemeral") if call.accepted]


def enqueue(settings: Settings, connection: Redis, count: int, prefix: str, text: str = TEXT) -> list[str]:
    ids = [f"slack:{prefix}-{n}" for n in range(count)]
    for request_id in ids:
        enqueue_summary(slack_job(request_id, text), settings, connection)
    return ids


def job_of(connection: Redis, settings: Settings, request_id: str) -> Job:
    return Job.fetch(slack_job(request_id).job_id, connection=connection, serializer=JSONSerializer)


def workers_up(connection: Redis, settings: Settings, count: int) -> bool:
    return len(Worker.all(queue=summary_queue(settings, connection))) >= count


def test_kill_9_mid_job_is_rerun_by_the_other_worker_and_delivered_once(
    redis_conn: Redis, fault_settings: Settings, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    env = worker_env(fault_settings, **SLOW)
    workers = [start_worker(env, tmp_path, log_name=f"w{n}.log") for n in range(2)]
    try:
        assert wait_until(lambda: workers_up(redis_conn, fault_settings, 2), 150), "workers did not start"
        (request_id,) = enqueue(fault_settings, redis_conn, 1, "kill", LONG_TEXT)
        job = job_of(redis_conn, fault_settings, request_id)
        assert wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 30)
        job.refresh()
        victim = next(w for w in workers if w.pid == _pid_of(redis_conn, job.worker_name or ""))
        family = children_of(victim.pid)
        killed_at = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        assert not deliveries(slack), "the job finished before the kill: nothing was tested"
        victim.wait(timeout=10)
        assert wait_until(lambda: deliveries(slack)[request_id] >= 1, 90), (tmp_path / "w0.log").read_text()[-3000:]
        print(f"re-run and delivered {time.monotonic() - killed_at:.1f} s after kill -9")
        time.sleep(1)
        assert deliveries(slack)[request_id] == 1
        assert not failure_notices(slack)
        assert job.get_status(refresh=True) == JobStatus.FINISHED
        assert FailedJobRegistry(queue=summary_queue(fault_settings, redis_conn)).count == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in [victim.pid, *family])  # no process of it left
        assert_no_text_left(redis_conn, TEXT)
    finally:
        for process in workers:
            stop(process)


def _pid_of(connection: Redis, worker_name: str) -> int:
    return int(connection.hget(f"rq:worker:{worker_name}", "pid") or 0)


def test_redis_stopped_for_10_s_while_processing(
    fault_settings: Settings, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path).start()
    settings = fault_settings.model_copy(update={"redis_url": server.url})
    set_active_settings(settings)
    connection = Redis.from_url(server.url)
    ids = enqueue(settings, connection, 6, "outage", MEDIUM_TEXT)
    env = worker_env(settings, **MEDIUM, RECAP_BATCH_SIZE="2")
    worker = start_worker(env, tmp_path)
    try:
        assert wait_until(lambda: job_of(connection, settings, ids[0]).get_status() != JobStatus.QUEUED, 60)
        server.stop()
        assert len(deliveries(slack)) < len(ids), "all done before the outage: nothing was tested"
        time.sleep(10)
        server.start()
        assert wait_until(lambda: len(deliveries(slack)) == len(ids), 75), (tmp_path / "worker.log").read_text()[-4000:]
        time.sleep(1)
        assert worker.poll() is None, "the worker exited during the outage"
        assert deliveries(slack) == dict.fromkeys(ids, 1)
        assert not failure_notices(slack)
        log = (tmp_path / "worker.log").read_text()
        assert "(RECAP_REDIS_URL)" in log  # the outage was logged with the setting to check
        assert TEXT not in log
        assert_no_text_left(connection, TEXT)
    finally:
        stop(worker)
        connection.close()
        server.stop()


def test_store_unreachable_for_20_s_during_20_jobs(
    redis_conn: Redis, fault_settings: Settings, slack: FakeSlackAPI, postgres_url: str, tmp_path: Path
) -> None:
    real_port = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy(real_port).start()
    store_url = postgres_url.replace(f":{real_port}/", f":{proxy.port}/")
    settings = fault_settings.model_copy(update={"store_url": store_url})
    Store.from_settings(settings)  # the schema, before the fault
    set_active_settings(settings)
    ids = enqueue(settings, redis_conn, 20, "store")
    env = worker_env(settings, RECAP_MIN_NEW_TOKENS="8", RECAP_BATCH_SIZE="2", RECAP_BATCH_TOKENS="40")
    worker = start_worker(env, tmp_path)
    try:
        assert wait_until(lambda: len(deliveries(slack)) >= 2, 60), (tmp_path / "worker.log").read_text()[-3000:]
        proxy.stop()
        time.sleep(20)
        proxy.start()
        assert wait_until(lambda: len(deliveries(slack)) == len(ids), 60), (tmp_path / "worker.log").read_text()[-4000:]
        time.sleep(1)
        assert deliveries(slack) == dict.fromkeys(ids, 1)
        assert not failure_notices(slack)
        assert FailedJobRegistry(queue=summary_queue(settings, redis_conn)).count == 0
        assert "store fault" in (tmp_path / "worker.log").read_text()  # the outage was met, and waited out
        assert_no_text_left(redis_conn, TEXT)
    finally:
        stop(worker)
        proxy.stop()


def test_sigterm_during_a_batch_stops_after_one_generate_call(
    redis_conn: Redis, fault_settings: Settings, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    ids = enqueue(fault_settings, redis_conn, 6, "batch", MEDIUM_TEXT)
    env = worker_env(fault_settings, **MEDIUM, RECAP_BATCH_SIZE="2", RECAP_BATCH_TOKENS="100000")
    first = start_worker(env, tmp_path, log_name="first.log")
    try:
        job = job_of(redis_conn, fault_settings, ids[0])
        assert wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 60)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    finally:
        stop(first)
    log = (tmp_path / "first.log").read_text()
    assert log.count("batched ") <= 1, log[-3000:]  # at most the generate call that was running
    assert "batch stopped after 1 generate calls" in log, log[-3000:]  # it did stop inside the batch
    assert len(deliveries(slack)) <= 1  # the job it had taken, at most
    waiting = summary_queue(fault_settings, redis_conn).count
    assert waiting >= len(ids) - 1  # the others stayed queued
    done = subprocess.run([sys.executable, "-m", "recap", "worker", "--burst"], env=env, cwd=tmp_path,
                          capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert deliveries(slack) == dict.fromkeys(ids, 1)
    assert not failure_notices(slack)
    assert_no_text_left(redis_conn, TEXT)


def test_a_job_that_expires_in_the_queue_is_reported_to_its_requester(
    redis_conn: Redis, fault_settings: Settings, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    long_job, waiting = enqueue(fault_settings, redis_conn, 2, "expire", LONG_TEXT)
    env = worker_env(fault_settings, **SLOW, RECAP_BATCH_TOKENS="0", RECAP_RECOVERY_INTERVAL_S="1")
    worker = start_worker(env, tmp_path)
    try:
        waiting_job = job_of(redis_conn, fault_settings, waiting)
        assert wait_until(lambda: redis_conn.exists(ROUTE_KEY.format(waiting_job.id)), 60)  # routing noted
        assert job_of(redis_conn, fault_settings, long_job).get_status() == JobStatus.STARTED
        redis_conn.pexpire(waiting_job.key, 1)  # its queued TTL passes while the worker is busy
        assert wait_until(lambda: failure_notices(slack), 30), (tmp_path / "worker.log").read_text()[-3000:]
        assert wait_until(lambda: deliveries(slack)[long_job] == 1, 60)
        time.sleep(2)
        assert failure_notices(slack) == [f":warning: {EXPIRED_MESSAGE}"]  # told once
        assert [c.params["user"] for c in slack.calls_to("chat.postEphemeral")] == ["U1"]
        assert waiting not in deliveries(slack)
        assert_no_text_left(redis_conn, TEXT)
    finally:
        stop(worker)


def test_worker_with_redis_down_at_start_up_gives_up_after_max_wait(settings: Settings, tmp_path: Path) -> None:
    env = worker_env(settings, RECAP_REDIS_URL=f"redis://:s3cret@127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "recap", "worker", "--max-wait", "2"], env=env, cwd=tmp_path,
                          capture_output=True, timeout=60)
    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 2, output
    assert "did not answer within --max-wait 2 s" in output and "RECAP_REDIS_URL" in output
    assert "Traceback" not in output and "s3cret" not in output
    assert output.count("is not reachable") >= 2  # one line per attempt
    assert "loaded model" not in output  # Redis is checked before the model is loaded
    assert time.monotonic() - started < 30


def test_a_second_sigterm_requeues_the_running_job(
    redis_conn: Redis, fault_settings: Settings, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    request_id = "slack:twice"
    enqueue_summary(slack_job(request_id, LONG_TEXT), fault_settings, redis_conn)
    env = worker_env(fault_settings, **SLOW)
    worker = start_worker(env, tmp_path)
    job = job_of(redis_conn, fault_settings, request_id)
    try:
        assert wait_until(lambda: job.get_status(refresh=True) == JobStatus.STARTED, 90)
        worker.send_signal(signal.SIGTERM)
        # Python runs the handler only when the generate call in progress returns; RQ ignores a repeat within
        # 1 s of that as the same signal, so the second one is sent 1.2 s after the first was taken.
        log = tmp_path / "worker.log"
        assert wait_until(lambda: "shutdown requested" in log.read_text(), 30)
        time.sleep(1.2)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        stop(worker)
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED, (tmp_path / "worker.log").read_text()[-2000:]
    assert job.retries_left == fault_settings.job_retries  # requeued, not a failed attempt
    assert summary_queue(fault_settings, redis_conn).get_job_ids() == [job.id]
    assert redis_conn.ttl(job.key) > 0
    assert not failure_notices(slack) and not deliveries(slack)
