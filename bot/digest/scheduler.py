"""The digest scheduler: one leader (a Redis lock) ticks; each tick enqueues the digests that are due.

Exactly one digest per channel and local day, with three guards:
1. only the holder of the leader lock ticks (SET NX PX, renewed by its owner on every tick);
2. the run row (platform, channel, local date) is UNIQUE in the store, and claimed before enqueuing;
3. the RQ job id is derived from that key and enqueued with ``unique=True``.
Catch-up: a digest missed by at most ``RECAP_DIGEST_GRACE_HOURS`` is posted late, once; an older
miss is recorded as skipped and logged (ids only, never message text).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

from bot.digest.schedule import Clock, latest_occurrence, parse_time_of_day, parse_timezone, system_clock
from bot.queue import QueueUnavailableError, redis_connection, summary_queue
from bot.store import Store
from bot.store.digest import (
    QUEUED,
    SKIPPED,
    DigestSchedule,
    RunKey,
    active_schedules,
    claim_run,
    finish_run,
    get_run,
)

log = logging.getLogger("recap.digest.scheduler")

DIGEST_JOB = "worker.digest_job.run_digest"
DIGEST_FAILURE_CALLBACK = "worker.digest_job.on_failure"
LEADER_KEY = "recap:digest:leader"
PAYLOAD_VERSION = 1

_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def digest_job_id(key: RunKey) -> str:
    return "recap-digest-" + hashlib.sha256(key.request_id.encode()).hexdigest()[:32]


def digest_payload(key: RunKey, workspace: str, scheduled_for: datetime) -> dict[str, Any]:
    return {
        "version": PAYLOAD_VERSION,
        "platform": key.platform,
        "workspace": workspace,
        "channel": key.channel,
        "local_date": key.local_date,
        "scheduled_for": scheduled_for.isoformat(),
    }


def enqueue_digest(
    key: RunKey, workspace: str, scheduled_for: datetime, settings: Any, connection: Redis | None = None
) -> bool:
    """Queue the digest job for ``key``; False when that job already exists (queued, running or kept)."""
    queue = summary_queue(settings, connection)
    retry = (
        Retry(max=settings.job_retries, interval=list(settings.retry_intervals_s))
        if settings.job_retries
        else None
    )
    try:
        queue.enqueue_call(
            DIGEST_JOB,
            args=(digest_payload(key, workspace, scheduled_for),),
            job_id=digest_job_id(key),
            unique=True,
            timeout=settings.job_timeout_s,
            result_ttl=settings.result_ttl_s,
            failure_ttl=settings.failure_ttl_s,
            # A job still waiting after the grace period is dropped, like any older miss.
            ttl=max(60, int(settings.digest_grace_hours * 3600)),
            retry=retry,
            on_failure=Callback(DIGEST_FAILURE_CALLBACK),
            description=f"digest {key.platform} {key.local_date}",
        )
    except DuplicateJobError:
        return False
    except RedisError as exc:
        raise QueueUnavailableError("The job queue (Redis) is not reachable right now.") from exc
    return True


class LeaderLock:
    """A lease in Redis: whoever holds it ticks. It expires by itself if its owner dies."""

    def __init__(
        self, connection: Redis, ttl_s: float = 60, key: str = LEADER_KEY, owner: str | None = None
    ) -> None:
        self.connection, self.key = connection, key
        self.ttl_ms = int(ttl_s * 1000)
        self.owner = owner or uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lease if it is free, or renew it if it is ours."""
        if self.connection.set(self.key, self.owner, nx=True, px=self.ttl_ms):
            return True
        return bool(self.connection.eval(_RENEW, 1, self.key, self.owner, self.ttl_ms))

    def release(self) -> None:
        self.connection.eval(_RELEASE, 1, self.key, self.owner)


@dataclass
class TickReport:
    leader: bool
    enqueued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class DigestScheduler:
    def __init__(
        self,
        settings: Any,
        store: Store | None = None,
        connection: Redis | None = None,
        *,
        clock: Clock = system_clock,
        lock_ttl_s: float = 60,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or Store.from_settings(settings)
        self.connection = connection or redis_connection(settings)
        self.clock = clock
        self.lock = LeaderLock(self.connection, lock_ttl_s, owner=owner)

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.settings.digest_grace_hours)

    def tick(self, now: datetime | None = None) -> TickReport:
        """Enqueue every digest that is due at ``now`` (the clock's time by default), if we lead."""
        now = now or self.clock()
        if not self.lock.acquire():
            return TickReport(leader=False)
        report = TickReport(leader=True)
        for schedule in active_schedules(self.store):
            try:
                self._consider(schedule, now, report)
            except QueueUnavailableError:
                raise
            except Exception:  # noqa: BLE001 - one bad schedule must not stop the others
                log.exception(
                    "digest schedule %s (%s %s) failed", schedule.id, schedule.platform, schedule.channel
                )
        return report

    def _consider(self, schedule: DigestSchedule, now: datetime, report: TickReport) -> None:
        zone = parse_timezone(schedule.timezone)
        due = latest_occurrence(now, parse_time_of_day(schedule.time_of_day), zone)
        if due.at < _aware(schedule.enabled_at):
            return  # it was not on yet at that time: nothing was missed
        key = RunKey(schedule.platform, schedule.channel, due.key_date)
        late = now - due.at
        run = get_run(self.store, key)
        if run is None and late > self.grace:
            _, created = claim_run(self.store, key, schedule.workspace, due.at, SKIPPED, reason="missed")
            if created:
                log.warning(
                    "digest %s %s for %s missed by %.1f h (grace %g h): skipped",
                    key.platform,
                    key.channel,
                    key.local_date,
                    late.total_seconds() / 3600,
                    self.settings.digest_grace_hours,
                )
                report.skipped.append(key.request_id)
            return
        if run is None:
            run, _ = claim_run(self.store, key, schedule.workspace, due.at, QUEUED)
        if run.status != QUEUED:
            return
        if late > self.grace:
            self._expire_if_lost(key, run.id, report)
        elif enqueue_digest(key, schedule.workspace, due.at, self.settings, self.connection):
            log.info(
                "digest %s %s for %s enqueued (%.0f min late)",
                key.platform,
                key.channel,
                key.local_date,
                late.total_seconds() / 60,
            )
            report.enqueued.append(key.request_id)

    def _expire_if_lost(self, key: RunKey, run_id: int, report: TickReport) -> None:
        """A run still queued after the grace period whose job is gone (dropped by its TTL, Redis lost)."""
        if self.connection.exists(Job.key_for(digest_job_id(key))):
            return
        if finish_run(self.store, run_id, SKIPPED, reason="not run within the grace period"):
            log.warning(
                "digest %s %s for %s was not run within the grace period: skipped",
                key.platform,
                key.channel,
                key.local_date,
            )
            report.skipped.append(key.request_id)

    def run(self, interval_s: float = 20, stop: threading.Event | None = None) -> None:
        """Tick until ``stop`` is set; a Redis outage is logged and retried on the next tick."""
        stop = stop or threading.Event()
        log.info("digest scheduler %s started (tick every %g s)", self.lock.owner[:8], interval_s)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except (QueueUnavailableError, RedisError) as exc:
                    log.warning("digest tick skipped: %s", type(exc).__name__)
                stop.wait(interval_s)
        finally:
            try:
                self.lock.release()
            except RedisError:
                pass


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes even for timezone=True columns; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
