"""`recap worker` as a real process: loads the model, runs jobs, finishes its job on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot.queue import SummaryJob, enqueue_summary
from config.settings import Settings

pytestmark = pytest.mark.slow


def wait_until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_lets_the_current_job_finish(redis_conn: Redis, settings: Settings, tmp_path: Path) -> None:
    long_job = SummaryJob(request_id="cli:sigterm", platform="cli", dialogue="#Person1#: hello there\n#Person2#: hi")
    enqueued = enqueue_summary(long_job, settings, redis_conn)
    env = dict(os.environ, RECAP_REDIS_URL=settings.redis_url, RECAP_STORE_URL=settings.store_url,
               RECAP_MODEL=settings.model, RECAP_MAX_NEW_TOKENS="400")
    worker = subprocess.Popen([sys.executable, "-m", "recap", "worker"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        job = Job.fetch(enqueued.job_id, connection=redis_conn, serializer=JSONSerializer)
        assert wait_until(lambda: job.get_status(refresh=True) != JobStatus.QUEUED, 120), "worker never started"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    output = worker.stdout.read().decode() if worker.stdout else ""
    assert job.get_status(refresh=True) == JobStatus.FINISHED, output[-2000:]
    assert "hello there" not in output  # no message text in the worker's logs
