"""Per-job timings and stage for summary jobs: what the summary row records and the worker logs.

- queue_wait_ms: enqueued until work on the job began (its batch's generate call, or RQ starting it);
- generate_ms: the job's own share of its batch's generate time, split by input tokens;
- delivery_ms: posting it; overhead_ms: everything the job spent except generating (delivery included).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rq import get_current_job
from rq.job import Job

log = logging.getLogger("recap.worker.jobs")

STAGE_SUMMARIZING = "summarizing"


@dataclass(frozen=True)
class Generated:
    """One job's output from a generate call, alone or in a batch."""

    output: Any
    batch_ms: int  # the whole generate call (the row's latency_ms, as before)
    share_ms: int  # this job's share of it
    started_at: datetime  # when the generate call began (wall clock, UTC)


def token_shares(total_ms: int, tokens: Sequence[int]) -> list[int]:
    """Split a batch's time by each job's input tokens (equally when no job has any)."""
    weights = [max(0, count) for count in tokens]
    whole = sum(weights)
    if whole == 0:
        return [round(total_ms / len(weights))] * len(weights) if weights else []
    return [round(total_ms * weight / whole) for weight in weights]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def queue_wait_ms(job: Job | None, work_began: datetime | None) -> int | None:
    """Enqueued until the worker began on it: the earlier of its generate call and RQ's start."""
    if job is None or job.enqueued_at is None:
        return None
    starts = [moment for moment in (_aware(job.started_at), _aware(work_began)) if moment is not None]
    if not starts:
        return None
    return max(0, round((min(starts) - _aware(job.enqueued_at)).total_seconds() * 1000))  # type: ignore[operator]


def current_job() -> Job | None:
    try:
        return get_current_job()
    except Exception:  # noqa: BLE001 - outside a worker (tests, scripts) there is no job
        return None


def mark_summarizing(jobs: Sequence[Job | None]) -> None:
    """Job meta the playground reads: generation of these jobs has started (contract: recap_stage*)."""
    since = time.time()
    for job in jobs:
        if job is None:
            continue
        try:
            job.meta["recap_stage"], job.meta["recap_stage_since"] = STAGE_SUMMARIZING, since
            job.save_meta()
        except Exception:  # noqa: BLE001 - the stage is a display hint; it must never fail the job
            log.warning("job %s: could not save its stage", job.id)


def fetch_jobs(request_ids: Sequence[str], connection: Any) -> list[Job | None]:
    from rq.serializers import JSONSerializer

    from bot.queue import job_id_for

    ids = [job_id_for(request_id) for request_id in request_ids]
    return list(Job.fetch_many(ids, connection=connection, serializer=JSONSerializer))


def backend_of(runtime: Any) -> tuple[str, str]:
    """(backend, compute type) of a runtime; the transformers runtime names its torch dtype."""
    backend = getattr(runtime, "backend_name", None) or "transformers"
    compute = getattr(runtime, "compute_type", None)
    if not compute:
        dtype = getattr(runtime, "dtype", None)
        compute = str(dtype).removeprefix("torch.") if dtype is not None else "float32"
    return str(backend), str(compute)
