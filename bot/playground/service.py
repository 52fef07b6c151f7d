"""What the playground and `recap summarize --via-queue` do: enqueue, wait, rate."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from rq.job import JobStatus

from bot.dialogue import Dialogue
from bot.queue import SummaryJob, enqueue_summary, fetch_job, summary_queue


@dataclass(frozen=True)
class JobState:
    status: str  # queued | started | finished | failed | unknown
    summary: str | None = None
    summary_id: int | None = None
    error: str | None = None


def submit(dialogue: Dialogue, settings: Any, *, platform: str, request_key: str | None = None) -> str:
    """Queue one summary; the same request_key twice gives one job. Returns the job id."""
    job = SummaryJob(
        request_id=f"{platform}:{request_key or uuid.uuid4().hex}", platform=platform, dialogue=dialogue.text,
        speakers=dialogue.speakers, message_count=dialogue.message_count, workspace="local", channel=platform,
    )
    return enqueue_summary(job, settings).job_id


def job_state(job_id: str, settings: Any) -> JobState:
    job = fetch_job(job_id, settings)
    if job is None:
        return JobState("unknown", error="This summary request has expired or never existed.")
    status = job.get_status()
    if status == JobStatus.FINISHED:
        result = job.return_value() or {}
        return JobState("finished", summary=result.get("summary"), summary_id=result.get("summary_id"))
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return JobState("failed", error=_failure_text(job))
    if status == JobStatus.STARTED:
        return JobState("started")
    return JobState("queued", error=None if _workers_alive(job, settings) else NO_WORKER)


NO_WORKER = ("No worker is running. Start one with `recap worker`, or check the terminal of `recap demo`: "
             "the model may have failed to load (RECAP_MODEL).")


def _workers_alive(job: Any, settings: Any) -> bool:
    from rq import Worker

    return Worker.count(connection=job.connection, queue=summary_queue(settings, job.connection)) > 0


def _failure_text(job: Any) -> str:
    """The worker's failure callback leaves a message for people in the job's meta."""
    return str(job.meta.get("user_error") or "Summarizing failed. Check the worker's log.")


def wait_for(job_id: str, settings: Any, timeout_s: float) -> JobState:
    deadline = time.monotonic() + timeout_s
    while True:
        state = job_state(job_id, settings)
        if state.status in ("finished", "failed", "unknown") or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def summarize_via_queue(dialogue: Dialogue, settings: Any, *, platform: str, timeout_s: float) -> str:
    state = wait_for(submit(dialogue, settings, platform=platform), settings, timeout_s)
    if state.status == "finished" and state.summary is not None:
        return state.summary
    if state.status in ("queued", "started"):
        raise TimeoutError(f"No worker finished the job within {timeout_s:.0f} s. Is `recap worker` running?")
    raise RuntimeError(state.error or "Summarizing failed.")
