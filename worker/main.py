"""`recap worker`: load the model once, warm it up, then run RQ jobs in this process.

CUDA cannot survive a fork, so this uses RQ's SimpleWorker (no fork per job). SIGTERM asks RQ
for a warm shutdown: the current job finishes, then the worker exits. When several summary
jobs are waiting, the worker summarizes them in one batch before running them one by one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.queue import SUMMARIZE_JOB, PayloadError, SummaryJob, redis_connection, summary_queue
from worker import jobs

log = logging.getLogger("recap.worker")


class BatchingWorker(SimpleWorker):
    """A SimpleWorker that batches the summary jobs waiting behind the one it just took."""

    recap_settings: Any = None

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.perf_counter()
        try:
            self._pregenerate_waiting(job, queue)
        except Exception:  # noqa: BLE001 - batching is an optimisation; each job still runs alone
            log.exception("batching skipped")
        super().execute_job(job, queue)
        log.info("job %s finished in %d ms", job.id, (time.perf_counter() - started) * 1000)

    def _pregenerate_waiting(self, job: Job, queue: Queue) -> None:
        settings = self.recap_settings
        if settings is None or settings.batch_size < 2 or job.func_name != SUMMARIZE_JOB:
            return
        waiting = [job] + self._waiting_summary_jobs(queue, settings.batch_size - 1)
        requests = self._unsummarized(waiting, settings)
        if len(requests) > 1:
            jobs.pregenerate(requests, settings)

    def _waiting_summary_jobs(self, queue: Queue, limit: int) -> list[Job]:
        found = []
        for job_id in queue.get_job_ids(0, limit - 1):
            try:
                candidate = Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            if candidate.func_name == SUMMARIZE_JOB:
                found.append(candidate)
        return found

    def _unsummarized(self, waiting: list[Job], settings: Any) -> list[SummaryJob]:
        store = jobs.store_for(settings)
        requests = []
        for job in waiting:
            try:
                request = SummaryJob.from_payload(job.args[0])
            except (PayloadError, IndexError):
                continue
            if request.request_id not in jobs.PREGENERATED and store.get_summary_by_request(request.request_id) is None:
                requests.append(request)
        return requests


def build_worker(settings: Any, connection: Any = None) -> BatchingWorker:
    connection = connection or redis_connection(settings)
    worker = BatchingWorker([summary_queue(settings, connection)], connection=connection, serializer=JSONSerializer)
    worker.recap_settings = settings
    return worker


def run_worker(settings: Any, *, burst: bool = False, warmup: bool = True) -> bool:
    """Load the model, warm it up, then process jobs until stopped (or the queue is empty, with burst)."""
    from worker.model.runtime import get_runtime

    runtime = get_runtime(settings)
    if warmup:
        started = time.perf_counter()
        runtime.warmup()
        log.info("model %s warmed up in %.1f s", runtime.model_id, time.perf_counter() - started)
    worker = build_worker(settings)
    # Never DEBUG for RQ: at DEBUG it logs each job's return value, which holds the summary text.
    rq_level = "INFO" if settings.log_level == "DEBUG" else settings.log_level
    return worker.work(burst=burst, with_scheduler=True, logging_level=rq_level)
