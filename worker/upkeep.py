"""The worker's upkeep thread: alive key, scheduled jobs, recovery pass; and waiting for Redis.

RQ forks its scheduler into a child process, which outlives a ``kill -9`` of the worker and keeps the
scheduler lock. Recap runs the same RQScheduler steps in a daemon thread instead: the thread dies with
the process, and its locks lapse after their TTL.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.scheduler import RQScheduler

from bot.queue import QueueUnavailableError
from worker import recovery

log = logging.getLogger("recap.worker.upkeep")

TICK_S = 1.0


def redacted_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def wait_for_redis(connection: Redis, settings: Any, max_wait_s: float | None = None,
                   stop: threading.Event | None = None) -> None:
    """Return once Redis answers; one log line per failed attempt, with a growing wait between them."""
    started, delay, attempt = time.monotonic(), 0.5, 0
    while True:
        try:
            connection.ping()
            if attempt:
                log.warning("Redis at %s (RECAP_REDIS_URL) is reachable again", redacted_url(settings.redis_url))
            return
        except RedisError as exc:
            attempt += 1
            waited = time.monotonic() - started
            if max_wait_s is not None and waited + delay > max_wait_s:
                raise QueueUnavailableError(
                    f"Redis at {redacted_url(settings.redis_url)} (RECAP_REDIS_URL) did not answer within "
                    f"--max-wait {max_wait_s:g} s ({type(exc).__name__}, {attempt} attempts). Start Redis or fix "
                    "RECAP_REDIS_URL."
                ) from None
            log.warning("Redis at %s (RECAP_REDIS_URL) is not reachable (%s); attempt %d, retrying in %.1f s",
                        redacted_url(settings.redis_url), type(exc).__name__, attempt, delay)
        if stop is not None and stop.wait(delay):
            return
        if stop is None:
            time.sleep(delay)
        delay = min(delay * 2, settings.redis_max_backoff_s)


class Upkeep(threading.Thread):
    """Every second: the alive key and due scheduled jobs; every RECAP_RECOVERY_INTERVAL_S: the recovery pass."""

    def __init__(self, worker: Any, queue: Queue, settings: Any) -> None:
        super().__init__(name="recap-upkeep", daemon=True)
        self.worker, self.queue, self.settings = worker, queue, settings
        self.connection: Redis = queue.connection
        self.scheduler = RQScheduler([queue], connection=self.connection, serializer=queue.serializer)
        self.stopped = threading.Event()
        self._last_recovery = 0.0
        self._failing = False

    def run(self) -> None:
        while not self.stopped.is_set():
            self.tick()
            self.stopped.wait(TICK_S)

    def tick(self) -> None:
        try:
            recovery.mark_alive(self.connection, self.worker.name, self.worker.recap_current_job_id,
                                self.settings.worker_alive_ttl_s)
            self.schedule_due()
            if time.monotonic() - self._last_recovery >= self.settings.recovery_interval_s:
                self._last_recovery = time.monotonic()
                recovery.recovery_pass(self.connection, self.queue, self.settings, self.worker.name)
            self._note_ok()
        except RedisError as exc:
            self._note_failure(exc)
        except Exception:  # noqa: BLE001 - the thread must outlive any one bad pass
            log.exception("upkeep pass failed")

    def schedule_due(self) -> None:
        """RQScheduler's loop body: hold (or refresh) the lock, then move due scheduled jobs to the queue."""
        if not self.scheduler.acquired_locks or self.scheduler.should_reacquire_locks:
            self.scheduler.acquire_locks()
        else:
            self.scheduler.heartbeat()
        if self.scheduler.acquired_locks:
            self.scheduler.enqueue_scheduled_jobs()

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(timeout=5)
        try:
            self.scheduler.release_locks()
            recovery.forget_alive(self.connection, self.worker.name)
        except RedisError:
            pass

    def _note_failure(self, exc: RedisError) -> None:
        if not self._failing:
            log.warning("upkeep: Redis at %s (RECAP_REDIS_URL) failed (%s); retrying every %.0f s",
                        redacted_url(self.settings.redis_url), type(exc).__name__, TICK_S)
        self._failing = True

    def _note_ok(self) -> None:
        if self._failing:
            log.warning("upkeep: Redis is back")
        self._failing = False


def recovery_thread(settings: Any, stop: threading.Event) -> threading.Thread:
    """The recovery pass alone, for processes that run no worker (`recap scheduler`); a daemon thread."""
    import os
    import socket

    from bot.queue import redis_connection, summary_queue

    connection = redis_connection(settings)
    queue = summary_queue(settings, connection)
    owner = f"scheduler:{socket.gethostname()}:{os.getpid()}"

    def loop() -> None:
        while not stop.wait(settings.recovery_interval_s):
            try:
                recovery.recovery_pass(connection, queue, settings, owner)
            except RedisError as exc:
                log.warning("recovery pass skipped: Redis at %s (RECAP_REDIS_URL) failed (%s)",
                            redacted_url(settings.redis_url), type(exc).__name__)
            except Exception:  # noqa: BLE001 - the next pass may succeed
                log.exception("recovery pass failed")

    thread = threading.Thread(target=loop, name="recap-recovery", daemon=True)
    thread.start()
    return thread
