"""`recap worker`: load the model once, warm it up, then run RQ jobs in this process.

CUDA cannot survive a fork, so this uses RQ's SimpleWorker (no fork per job). Before running the job it
took, the worker summarizes the summary jobs waiting behind it in one go, up to ``RECAP_BATCH_TOKENS``
input tokens, one generate call per ``RECAP_BATCH_SIZE`` dialogues; the others stay queued for any worker.

Faults (see worker/upkeep.py and worker/recovery.py):
- the job is marked started before the batch, so a worker killed during it leaves the job in the started
  registry, where the recovery pass of another worker finds it within ``RECAP_WORKER_ALIVE_TTL_S`` + a pass;
- a Redis error anywhere in the loop waits for Redis (backoff, one log line per attempt) instead of exiting;
- SIGTERM: the current generate call finishes, the job it was for runs, then the worker exits; waiting jobs
  stay queued. A second SIGTERM puts the running job back at the front of the queue and exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job

from bot.queue import redis_connection, summary_queue
from bot.store import store_for
from worker import recovery
from worker.batching import plan_batch, pregenerate_in_calls
from worker.failures import is_store_fault
from worker.upkeep import Upkeep, wait_for_redis

log = logging.getLogger("recap.worker")

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
EXECUTE_ATTEMPTS = 5


class BatchingWorker(SimpleWorker):
    """A SimpleWorker that batches waiting summary jobs, waits Redis out and shuts down promptly."""

    recap_settings: Any = None
    recap_current_job_id: str | None = None
    recap_stopped: bool = False

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.perf_counter()
        self.recap_current_job_id = job.id
        try:
            for attempt in range(1, EXECUTE_ATTEMPTS + 1):
                try:
                    self._execute(job, queue)
                    break
                except REDIS_DOWN as exc:
                    log.warning("job %s: Redis failed during RQ's bookkeeping (%s), attempt %d",
                                job.id, type(exc).__name__, attempt)
                    wait_for_redis(self.connection, self.recap_settings)
        finally:
            self.recap_current_job_id = None
        log.info("job %s finished in %d ms", job.id, (time.perf_counter() - started) * 1000)

    def _execute(self, job: Job, queue: Queue) -> None:
        """SimpleWorker.execute_job, with the job marked started (and out of the intermediate list) first."""
        execution = self.prepare_execution(job)
        self.prepare_job_execution(job, remove_from_intermediate_queue=True)
        recovery.forget_route(self.connection, queue.name, job.id)
        try:
            self._pregenerate_waiting(job, queue)
        except StopRequested:
            raise
        except REDIS_DOWN:
            raise
        except Exception as exc:  # noqa: BLE001 - batching is an optimisation; each job still runs alone
            if is_store_fault(exc):
                log.warning("batching skipped: the store is unreachable (%s)", type(exc).__name__)
            else:
                log.exception("batching skipped")
        self.perform_job(job, queue, execution)
        self.set_state("idle")

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        super().prepare_job_execution(job, remove_from_intermediate_queue)
        # RQ persists a started job's hash; keep a TTL so a job nobody recovers cannot keep its text forever.
        self.connection.expire(job.key, int(job.timeout or 600) + 3600)

    def _pregenerate_waiting(self, job: Job, queue: Queue) -> None:
        settings = self.recap_settings
        if settings is None:
            return
        requests = plan_batch(job, queue, settings)
        if len(requests) > 1:
            pregenerate_in_calls(requests, settings, should_stop=lambda: self._stop_requested)

    # Shutdown

    def _shutdown(self) -> None:
        if self.recap_current_job_id is not None:
            self._stop_requested = True  # after the current generate call and this job
            log.info("shutdown requested: finishing job %s first (SIGTERM again requeues it)",
                     self.recap_current_job_id)
            return
        raise StopRequested()

    def request_force_stop(self, signum: int, frame: Any) -> None:
        if (time.time() - self._shutdown_requested_date.timestamp()) < 1:
            return  # the same signal delivered twice (RQ's own rule)
        job_id = self.recap_current_job_id
        if job_id is not None:
            try:
                queue = self.queues[0]
                recovery.requeue(self.connection, queue, queue.fetch_job(job_id), "worker stopped twice")
            except Exception:  # noqa: BLE001 - the recovery pass will find it once this worker is gone
                log.exception("job %s: could not requeue it; the recovery pass will", job_id)
        self._register_death_quietly()
        log.warning("second SIGTERM: exiting now")
        logging.shutdown()
        os._exit(0)

    def _register_death_quietly(self) -> None:
        try:
            recovery.forget_alive(self.connection, self.name)
            self.register_death()
        except RedisError:
            pass

    # Redis outages: never leave the loop for them

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        try:
            super().heartbeat(timeout, pipeline)
        except REDIS_DOWN:
            log.debug("heartbeat skipped: Redis is down")

    def set_state(self, state: str, pipeline: Any = None) -> None:
        try:
            super().set_state(state, pipeline)
        except REDIS_DOWN:
            self._state = state

    def check_for_suspension(self, burst: bool) -> None:
        while True:
            try:
                return super().check_for_suspension(burst)
            except REDIS_DOWN:
                wait_for_redis(self.connection, self.recap_settings)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except REDIS_DOWN as exc:
            log.warning("maintenance skipped: Redis is down (%s)", type(exc).__name__)
            self.last_cleaned_at = None

    def teardown(self) -> None:
        try:
            super().teardown()
        except REDIS_DOWN:
            log.warning("could not register this worker's death: Redis is down")


def build_worker(settings: Any, connection: Any = None) -> BatchingWorker:
    connection = connection or redis_connection(settings)
    worker = BatchingWorker([summary_queue(settings, connection)], connection=connection,
                            serializer=summary_queue(settings, connection).serializer,
                            worker_ttl=max(settings.worker_alive_ttl_s, 20))
    worker.max_connection_wait_time = settings.redis_max_backoff_s
    worker.recap_settings = settings
    return worker


def _start_adapter_pool(settings: Any) -> None:
    """With adapters registered for this base model, load the pool now and publish what it holds (doctor)."""
    from bot.adapters.registry import Registry
    from worker import adapter_jobs

    if Registry(store_for(settings)).all(settings.model, include_retired=False):
        pool = adapter_jobs.pool_for(settings)
        adapter_jobs.sync_registry(pool, settings, store_for(settings))
        adapter_jobs.start_holdings_heartbeat(settings, pool)


def run_worker(settings: Any, *, burst: bool = False, warmup: bool = True, max_wait_s: float | None = None) -> bool:
    """Wait for Redis, load the model, warm it up, then process jobs until stopped (or the queue is empty)."""
    from worker.model.runtime import get_runtime

    connection = redis_connection(settings)
    wait_for_redis(connection, settings, max_wait_s)  # before the model: a wrong URL should not cost a load
    store_for(settings)  # a store behind its schema is reported (with the command to run) before the load
    runtime = get_runtime(settings)
    if warmup:
        started = time.perf_counter()
        runtime.warmup()
        log.info("model %s warmed up in %.1f s", runtime.model_id, time.perf_counter() - started)
    _start_adapter_pool(settings)
    # Never DEBUG for RQ: at DEBUG it logs each job's return value, which holds the summary text.
    rq_level = "INFO" if settings.log_level == "DEBUG" else settings.log_level
    worked = False
    while True:
        worker = build_worker(settings, connection)
        try:
            worked = _work_once(worker, settings, burst, rq_level) or worked
        except REDIS_DOWN as exc:  # e.g. while registering the worker: RQ's loop had not started yet
            log.warning("worker start-up met a Redis failure (%s)", type(exc).__name__)
        else:
            if burst or worker._stop_requested or worker.recap_stopped:
                _ignore_further_sigterms()
                return worked
            log.warning("worker loop ended unexpectedly; starting it again")
        wait_for_redis(connection, settings)


def _ignore_further_sigterms() -> None:
    """The worker is done; a repeated SIGTERM while Python tears down (handlers reset) must not kill it with -15."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _work_once(worker: BatchingWorker, settings: Any, burst: bool, rq_level: str) -> bool:
    queue = worker.queues[0]
    upkeep = Upkeep(worker, queue, settings)
    worker.recap_stopped = False
    recovery.mark_alive(worker.connection, worker.name, None, settings.worker_alive_ttl_s)
    if burst:
        upkeep.tick()  # due scheduled jobs and orphans first, as RQ's burst scheduler does
    else:
        upkeep.start()
    try:
        worked = worker.work(burst=burst, with_scheduler=False, logging_level=rq_level)
        worker.recap_stopped = worker._stop_requested or _left_on_signal(worker)
        return worked
    finally:
        upkeep.stop()


def _left_on_signal(worker: BatchingWorker) -> bool:
    """RQ's loop ends on StopRequested (SIGTERM while idle) without a flag: it set the shutdown date then."""
    return worker._shutdown_requested_date is not None
