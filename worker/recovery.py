"""The recovery pass: re-run the jobs of dead workers, and tell requesters whose job expired in the queue.

Every Recap worker refreshes ``recap:worker:alive:<name>`` (TTL ``RECAP_WORKER_ALIVE_TTL_S``) from a
thread, with the id of the job it is running. One process at a time (a Redis lock, like RQ's scheduler
lock) runs the pass every ``RECAP_RECOVERY_INTERVAL_S``:

- a job in the StartedJobRegistry whose worker's alive key has expired (or which its live worker no
  longer runs) is put back at the front of the queue, retries untouched, its hash given its TTL back;
- a job id left in RQ's intermediate list (taken off the queue, never started) is put back too;
- each waiting job's routing (no text) is noted under ``recap:route:<job id>`` with a longer TTL; when
  the job's hash is gone before any worker started it (its queued TTL passed), the requester is told.

Re-running is safe: the store's unique request id and the delivery ledgers make a second run post nothing
twice (see docs/ARCHITECTURE.md, "At least once, exactly once").
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

log = logging.getLogger("recap.worker.recovery")

ALIVE_KEY = "recap:worker:alive:{}"
LOCK_KEY = "recap:recovery:lock:{}"
ROUTES_KEY = "recap:routes:{}"  # zset: job ids whose routing is noted
ROUTE_KEY = "recap:route:{}"
NOTICE_SENT_KEY = "recap:expired-notice:{}"
ROUTE_EXTRA_TTL_S = 86400
INTERMEDIATE_GRACE_S = 10.0
EXPIRED_MESSAGE = "Your summary request waited too long in the queue and expired. Please ask again."


def mark_alive(connection: Redis, worker_name: str, job_id: str | None, ttl_s: int) -> None:
    connection.set(ALIVE_KEY.format(worker_name), job_id or "", ex=ttl_s)


def forget_alive(connection: Redis, worker_name: str) -> None:
    connection.delete(ALIVE_KEY.format(worker_name))


def take_lock(connection: Redis, queue: Queue, owner: str, ttl_s: float) -> bool:
    """Leader election: only the holder runs the pass until the lock lapses."""
    key = LOCK_KEY.format(queue.name)
    ttl = max(1, int(ttl_s))
    if connection.set(key, owner, nx=True, ex=ttl):
        return True
    if connection.get(key) == owner.encode():
        connection.expire(key, ttl)
        return True
    return False


def requeue(connection: Redis, queue: Queue, job: Job, reason: str) -> None:
    """Back to the front of the queue, retries left as they were; the hash gets its queued TTL again."""
    with connection.pipeline() as pipe:
        for execution in job.get_executions():
            pipe.zrem(queue.started_job_registry.key, execution.composite_key)
        pipe.lrem(queue.intermediate_queue_key, 0, job.id)
        queue._enqueue_job(job, pipeline=pipe, at_front=True)
        pipe.execute()
    log.warning("job %s requeued: %s (%s retries left)", job.id, reason, job.retries_left)


def _fetch(connection: Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def _alive_value(connection: Redis, worker_name: str) -> str | None:
    value = connection.get(ALIVE_KEY.format(worker_name)) if worker_name else None
    return value.decode() if value is not None else None


def _abandoned(connection: Redis, job: Job, started_at: float, alive_ttl_s: int) -> str | None:
    """Why ``job`` (in the started registry) has no one running it, or None while someone does."""
    running = _alive_value(connection, job.worker_name or "")
    if running is None:
        return f"its worker {job.worker_name or '?'} stopped answering"
    if running != job.id and time.time() - started_at > 2 * alive_ttl_s:
        return f"its worker {job.worker_name} no longer runs it"
    return None


def recover_started(connection: Redis, queue: Queue, alive_ttl_s: int) -> int:
    registry = queue.started_job_registry
    count = 0
    for entry in connection.zrange(registry.key, 0, -1):
        job_id = entry.decode().split(":", 1)[0]
        job = _fetch(connection, job_id)
        if job is None:
            connection.zrem(registry.key, entry)
            continue
        started_at = job.started_at.timestamp() if job.started_at else time.time()
        reason = _abandoned(connection, job, started_at, alive_ttl_s)
        if reason and job.get_status(refresh=False) == "started":
            requeue(connection, queue, job, reason)
            count += 1
    return count


def recover_intermediate(connection: Redis, queue: Queue) -> int:
    """Ids taken off the queue by a worker that died before starting them (RQ waits a minute, then fails them)."""
    count = 0
    started = set(queue.started_job_registry.get_job_ids(cleanup=False))
    for job_id in queue.intermediate_queue.get_job_ids():
        first_seen = connection.set(f"recap:intermediate:seen:{job_id}", time.time(), nx=True, ex=3600)
        if job_id in started or first_seen:
            continue
        seen_at = float(connection.get(f"recap:intermediate:seen:{job_id}") or time.time())
        if time.time() - seen_at < INTERMEDIATE_GRACE_S:
            continue
        job = _fetch(connection, job_id)
        if job is None:
            connection.lrem(queue.intermediate_queue_key, 0, job_id)
        else:
            requeue(connection, queue, job, "left in RQ's intermediate list")
            count += 1
        connection.delete(f"recap:intermediate:seen:{job_id}")
    return count


def note_routes(connection: Redis, queue: Queue) -> None:
    """Remember how to reach the requester of every waiting job, longer than the job itself lives."""
    from worker.notices import routing_payload

    routes = ROUTES_KEY.format(queue.name)
    for job_id in queue.get_job_ids():
        if connection.zscore(routes, job_id) is not None:
            continue
        job = _fetch(connection, job_id)
        if job is None or not job.args or not isinstance(job.args[0], dict):
            continue
        ttl = max(connection.ttl(job.key), 0) + ROUTE_EXTRA_TTL_S
        connection.set(ROUTE_KEY.format(job_id), json.dumps(routing_payload(job.args[0])), ex=ttl)
        connection.zadd(routes, {job_id: time.time()})


def forget_route(connection: Redis, queue_name: str, job_id: str) -> None:
    """A worker took the job: its expiry is no longer a reason to tell anyone."""
    connection.delete(ROUTE_KEY.format(job_id))
    connection.zrem(ROUTES_KEY.format(queue_name), job_id)


def tell_expired(connection: Redis, queue: Queue, settings: Any) -> int:
    from bot.queue import SummaryJob
    from worker.notices import tell_requester

    told = 0
    for raw in connection.zrange(ROUTES_KEY.format(queue.name), 0, -1):
        job_id = raw.decode()
        if connection.exists(Job.key_for(job_id)):
            continue
        route = connection.get(ROUTE_KEY.format(job_id))
        forget_route(connection, queue.name, job_id)
        if route is None or not connection.set(NOTICE_SENT_KEY.format(job_id), 1, nx=True, ex=ROUTE_EXTRA_TTL_S):
            continue
        connection.lrem(queue.key, 0, job_id)
        request = SummaryJob.from_payload(json.loads(route))
        log.warning("job %s expired in the queue before a worker took it; telling the requester", job_id)
        tell_requester(request, EXPIRED_MESSAGE, settings)
        told += 1
    return told


def recovery_pass(connection: Redis, queue: Queue, settings: Any, owner: str) -> bool:
    """One pass, if this process holds the lock; True when it ran."""
    if not take_lock(connection, queue, owner, settings.recovery_interval_s * 3):
        return False
    recover_started(connection, queue, settings.worker_alive_ttl_s)
    recover_intermediate(connection, queue)
    note_routes(connection, queue)
    tell_expired(connection, queue, settings)
    return True
