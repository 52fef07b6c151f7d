"""What the playground and `recap summarize --via-queue` do: enqueue, follow the job, rate."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from redis import Redis
from rq.job import Job, JobStatus

from bot.dialogue import Dialogue
from bot.playground.model_info import is_random_test_model
from bot.playground.workers import RegistryWorkers, WorkerStatus
from bot.queue import SummaryJob, enqueue_summary, fetch_job

STAGE_KEY, STAGE_SINCE_KEY = "recap_stage", "recap_stage_since"  # set by the worker when generation starts


class ViaQueueError(RuntimeError):
    """`recap summarize --via-queue` got no summary; the message says why (shown without a traceback)."""


class WorkerWatch(Protocol):
    def status(self) -> WorkerStatus: ...


@dataclass(frozen=True)
class JobState:
    status: str  # loading | queued | summarizing | failed | done | unknown
    summary: str | None = None
    summary_id: int | None = None
    error: str | None = None
    position: int | None = None  # 1 = next in line
    elapsed_s: float | None = None  # while summarizing
    answered_by: dict[str, Any] | None = None  # model, adapter, backend, compute_type, random_test_model

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def submit(dialogue: Dialogue, settings: Any, *, platform: str, request_key: str | None = None,
           connection: Redis | None = None) -> str:
    """Queue one summary; the same request_key twice gives one job. Returns the job id."""
    job = SummaryJob(
        request_id=f"{platform}:{request_key or uuid.uuid4().hex}", platform=platform, dialogue=dialogue.text,
        speakers=dialogue.speakers, message_count=dialogue.message_count, workspace="local", channel=platform,
    )
    return enqueue_summary(job, settings, connection=connection).job_id


def answered_by(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "adapter", "backend", "compute_type", "prompt_version")
    return {**{key: result.get(key) for key in keys}, "random_test_model": is_random_test_model(result.get("model"))}


def _finished(job: Job) -> JobState:
    result = job.return_value() or {}
    return JobState("done", summary=result.get("summary"), summary_id=result.get("summary_id"),
                    answered_by=answered_by(result))


def _summarizing(job: Job) -> JobState:
    since = job.meta.get(STAGE_SINCE_KEY)
    started = float(since) if since is not None else (job.started_at.timestamp() if job.started_at else time.time())
    return JobState("summarizing", elapsed_s=round(max(0.0, time.time() - started), 1))


def _waiting(job: Job, worker: WorkerStatus) -> JobState:
    if worker.state == "stopped":
        return JobState("failed", error=worker.reason)
    position = job.get_position()
    shown = None if position is None else position + 1
    if worker.state == "loading":
        return JobState("loading", position=shown, error=worker.reason)
    return JobState("queued", position=shown, error=None if worker.state == "ready" else worker.reason)


def job_state(job_id: str, settings: Any, *, connection: Redis | None = None,
              workers: WorkerWatch | None = None) -> JobState:
    job = fetch_job(job_id, settings, connection)
    if job is None:
        return JobState("unknown", error="This summary request has expired or never existed.")
    status = job.get_status()
    if status == JobStatus.FINISHED:
        return _finished(job)
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return JobState("failed", error=_failure_text(job))
    if status == JobStatus.STARTED or job.meta.get(STAGE_KEY) == "summarizing":  # batched jobs too
        return _summarizing(job)
    return _waiting(job, (workers or RegistryWorkers(job.connection, settings)).status())


def _failure_text(job: Job) -> str:
    """The worker's failure callback leaves a message for people in the job's meta."""
    text = str(job.meta.get("user_error") or "Summarizing failed. Check the worker's log.")
    return text.replace("Try a shorter range.", "Try a shorter conversation.")


def wait_for(job_id: str, settings: Any, timeout_s: float, connection: Redis | None = None) -> JobState:
    deadline = time.monotonic() + timeout_s
    while True:
        state = job_state(job_id, settings, connection=connection)
        if state.status in ("done", "failed", "unknown") or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def summarize_via_queue(dialogue: Dialogue, settings: Any, *, platform: str, timeout_s: float) -> str:
    from bot.queue import redis_connection

    connection = redis_connection(settings)
    state = wait_for(submit(dialogue, settings, platform=platform, connection=connection), settings, timeout_s,
                     connection)
    if state.status == "done" and state.summary is not None:
        return state.summary
    if state.status not in ("failed", "unknown"):
        raise ViaQueueError(f"No worker finished the job within {timeout_s:.0f} s. Is `recap worker` running?")
    raise ViaQueueError(state.error or "Summarizing failed.")
