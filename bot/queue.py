"""The one place the bot side talks to RQ.

Jobs are enqueued by dotted path with RQ's JSON serializer, so the bot never imports torch and
no pickle ever reaches Redis. A job's id is derived from the platform request, so a retried or
double-clicked request gives one job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from redis import ConnectionPool, Redis
from redis.exceptions import OutOfMemoryError, RedisError
from rq import Callback, Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer

JOB_SCHEMA_VERSION = 2
# Version 1 payloads (no adapter field) are still read, as "the default adapter". Upgrade the workers before
# the bots: a worker that predates version 2 refuses version-2 jobs with a clear message.
SUPPORTED_VERSIONS = (1, 2)
SUMMARIZE_JOB = "worker.jobs.summarize"
FAILURE_CALLBACK = "worker.jobs.on_failure"

log = logging.getLogger("recap.queue")


class QueueUnavailableError(RuntimeError):
    """Redis cannot be reached: the request was not queued."""


UNREACHABLE_MESSAGE = "The summary queue (Redis) is not reachable right now."
OUT_OF_MEMORY_MESSAGE = ("The summary queue (Redis) is out of memory, so no new summary can be queued. "
                         "Try again later; an operator needs to check Redis's maxmemory.")
MAX_CLIENTS_MESSAGE = ("The summary queue (Redis) has too many connections open right now. "
                       "Try again in a few minutes; an operator needs to check Redis's maxclients.")
BUSY_MESSAGE = "Recap is busy; try again in a few minutes."


class QueueOutOfMemoryError(QueueUnavailableError):
    """Redis is at maxmemory with a no-eviction policy ("OOM command not allowed")."""


class QueueMaxClientsError(QueueUnavailableError):
    """Redis refuses new connections: its maxclients is reached."""


class QueueBusyError(QueueUnavailableError):
    """The queue is at RECAP_MAX_QUEUED: the request was refused at once, not dropped later."""

    def __init__(self, message: str = BUSY_MESSAGE) -> None:
        super().__init__(message)


class PayloadError(ValueError):
    """A job payload does not follow the documented schema."""


@dataclass
class SummaryJob:
    """Schema v2 of the JSON payload of a summary job (see docs/ARCHITECTURE.md).

    ``dialogue`` is the exact model input; ``speakers`` maps ``#PersonN#`` to display names;
    ``destination`` holds what the platform's deliverer needs (response_url, channel, thread...);
    ``adapter`` names the registered adapter to serve it (None: the default adapter).
    """

    request_id: str
    platform: str
    dialogue: str
    speakers: dict[str, str] = field(default_factory=dict)
    workspace: str = ""
    channel: str = ""
    thread: str | None = None
    requester: str = ""
    message_count: int = 0
    public: bool = False
    destination: dict[str, Any] = field(default_factory=dict)
    kind: str = "summary"
    version: int = JOB_SCHEMA_VERSION
    adapter: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SummaryJob:
        if not isinstance(payload, dict):
            raise PayloadError(f"job payload must be a JSON object, got {type(payload).__name__}")
        version = payload.get("version")
        if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
            raise PayloadError(f"job payload version {version!r} is not supported (expected {SUPPORTED_VERSIONS})")
        if version == 1:
            payload = {key: value for key, value in payload.items() if key != "adapter"}
        known = {f.name for f in fields(cls)}
        missing = {"request_id", "platform", "dialogue"} - payload.keys()
        if missing:
            raise PayloadError(f"job payload lacks {sorted(missing)}")
        adapter = payload.get("adapter")
        if adapter is not None and (not isinstance(adapter, str) or not adapter.strip()):
            raise PayloadError(f"job payload adapter must be a non-empty string or null, got {adapter!r}")
        return cls(**{key: value for key, value in payload.items() if key in known})

    @property
    def job_id(self) -> str:
        return job_id_for(self.request_id)


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    created: bool


def job_id_for(request_id: str) -> str:
    return "recap-" + hashlib.sha256(request_id.encode()).hexdigest()[:32]


_clients: dict[tuple[int, str], Redis] = {}
_clients_lock = threading.Lock()


def redis_connection(settings: Any) -> Redis:
    """The process's one Redis client for ``settings.redis_url``: every caller shares its connection pool.

    One object, not one per call: RQ keeps every connection object it sees in a module-level script registry,
    so a client per request leaked a connection per request. A forked child gets a pool of its own."""
    key = (os.getpid(), settings.redis_url)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                pool = ConnectionPool.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=5.0)
                client = Redis(connection_pool=pool)
                for stale in [k for k in _clients if k[0] != key[0]]:  # a parent's clients: never used here
                    del _clients[stale]
                _clients[key] = client
    return client


def redacted_redis_url(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def unavailable(error: RedisError, settings: Any = None) -> QueueUnavailableError:
    """The error for people, by cause (out of memory, max clients, unreachable), with one log line each."""
    where = redacted_redis_url(settings.redis_url) if settings is not None else "RECAP_REDIS_URL"
    if isinstance(error, OutOfMemoryError) or str(error).startswith("OOM"):
        log.error("Redis at %s is out of memory (OOM command not allowed): nothing can be queued", where)
        return QueueOutOfMemoryError(OUT_OF_MEMORY_MESSAGE)
    if "max number of clients" in str(error):
        log.error("Redis at %s refuses connections: max number of clients reached", where)
        return QueueMaxClientsError(MAX_CLIENTS_MESSAGE)
    log.warning("Redis at %s is not reachable (%s: %s)", where, type(error).__name__, error)
    return QueueUnavailableError(UNREACHABLE_MESSAGE)


def summary_queue(settings: Any, connection: Redis | None = None) -> Queue:
    return Queue(settings.queue_name, connection=connection or redis_connection(settings), serializer=JSONSerializer)


def _retry(settings: Any) -> Retry | None:
    if settings.job_retries < 1:
        return None
    return Retry(max=settings.job_retries, interval=list(getattr(settings, "retry_intervals_s", [0])))


def enqueue_summary(job: SummaryJob, settings: Any, connection: Redis | None = None) -> Enqueued:
    """Queue one summary. The same request twice gives one job: the second returns created=False.

    Refused at once, never dropped later: input with no words or past the job bounds (a message for the
    person), and a full queue, in total or for the workspace (QueueBusyError with BUSY_MESSAGE)."""
    from bot import queue_limits

    queue_limits.check_input(job, settings)
    job = routed(job, settings)
    queue = summary_queue(settings, connection)
    reserved = False
    try:
        queue_limits.check_total(queue, settings)
        reserved = queue_limits.reserve_workspace_slot(queue.connection, job, settings)
        _enqueue(queue, job, settings)
    except DuplicateJobError:
        if reserved:  # the slot belongs to the job already there, which may have started long ago
            _release_quietly(queue.connection, job)
        return Enqueued(job.job_id, created=False)
    except RedisError as exc:
        if reserved:
            _release_quietly(queue.connection, job)
        raise unavailable(exc, settings) from exc
    return Enqueued(job.job_id, created=True)


def routed(job: SummaryJob, settings: Any) -> SummaryJob:
    """The job with the adapter the registry routes it to (assignment or experiment arm), when adapters are
    registered. Routing is never a reason to refuse a summary: on a store fault the worker's default serves."""
    if job.kind != "summary" or job.adapter is not None:
        return job
    from bot.adapters.registry import Registry
    from bot.adapters.routing import route_job
    from bot.store import store_for

    try:
        store = store_for(settings)
        return route_job(job, store) if Registry(store).all(include_retired=False) else job
    except Exception as exc:  # noqa: BLE001 - a registry fault must not lose the request
        log.warning("adapter routing skipped for %s: %s", job.job_id, type(exc).__name__)
        return job


def _release_quietly(connection: Redis, job: SummaryJob) -> None:
    from bot.queue_limits import release_workspace_slot

    try:
        release_workspace_slot(connection, job)
    except RedisError:
        pass  # the entry ages out with the queued TTL, or the next recount drops it


def _enqueue(queue: Queue, job: SummaryJob, settings: Any) -> None:
    from bot.queue_limits import queued_ttl_s

    queue.enqueue_call(
        SUMMARIZE_JOB,
        args=(job.to_payload(),),
        job_id=job.job_id,
        unique=True,
        timeout=settings.job_timeout_s,
        result_ttl=settings.result_ttl_s,
        failure_ttl=settings.failure_ttl_s,
        ttl=queued_ttl_s(settings),
        retry=_retry(settings),
        on_failure=Callback(FAILURE_CALLBACK),
        description=f"{job.kind} {job.platform} {job.message_count} messages",
    )


def fetch_job(job_id: str, settings: Any, connection: Redis | None = None) -> Job | None:
    from rq.exceptions import NoSuchJobError

    try:
        return Job.fetch(job_id, connection=connection or redis_connection(settings), serializer=JSONSerializer)
    except NoSuchJobError:
        return None
    except RedisError as exc:
        raise unavailable(exc, settings) from exc


def ping(settings: Any, connection: Redis | None = None) -> None:
    """Raise QueueUnavailableError unless Redis answers."""
    try:
        (connection or redis_connection(settings)).ping()
    except RedisError as exc:
        raise unavailable(exc, settings) from exc
