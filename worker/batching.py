"""Which waiting summary jobs the worker summarizes together, and in how many generate calls.

The batch is the job the worker took plus the summary jobs waiting right behind it, up to
``RECAP_BATCH_TOKENS`` estimated input tokens (words x 4/3: cheap, no tokenizer call). They are handed
to ``jobs.pregenerate`` ``RECAP_BATCH_SIZE`` dialogues per call, the taken job in the first call, and the
worker checks for a shutdown request between calls. Waiting jobs are only peeked at: they stay queued,
so another worker may take them meanwhile (its run then simply generates again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.queue import SUMMARIZE_JOB, PayloadError, SummaryJob
from worker import jobs

log = logging.getLogger("recap.worker.batching")

PEEK_LIMIT = 256  # waiting jobs looked at for one batch


def estimated_tokens(dialogue: str) -> int:
    return len(dialogue.split()) * 4 // 3 + 4


def _request(job: Job) -> SummaryJob | None:
    if job.func_name != SUMMARIZE_JOB:
        return None
    try:
        return SummaryJob.from_payload(job.args[0])
    except (PayloadError, IndexError, TypeError):
        return None


def _waiting(queue: Queue, limit: int) -> list[Job]:
    found = []
    for job_id in queue.get_job_ids(0, limit - 1):
        try:
            found.append(Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer))
        except NoSuchJobError:
            continue
    return found


def plan_batch(job: Job, queue: Queue, settings: Any) -> list[SummaryJob]:
    """The taken job first, then waiting ones not yet summarized, within the token budget."""
    first = _request(job)
    budget = getattr(settings, "batch_tokens", 0)
    if first is None or budget <= 0 or settings.batch_size < 2:
        return []
    store = jobs.store_for(settings)
    chosen, used = [first], estimated_tokens(first.dialogue)
    for candidate in _waiting(queue, PEEK_LIMIT):
        request = _request(candidate)
        if request is None or request.request_id in jobs.PREGENERATED or not request.dialogue.strip():
            continue
        cost = estimated_tokens(request.dialogue)
        if used + cost > budget:
            break
        if store.get_summary_by_request(request.request_id) is None:
            chosen.append(request)
            used += cost
    return chosen


def pregenerate_in_calls(requests: list[SummaryJob], settings: Any, should_stop: Callable[[], bool]) -> int:
    """Summarize ``requests`` ahead of their jobs, one generate call per chunk; returns the calls made."""
    size = max(1, settings.batch_size)
    calls = 0
    for start in range(0, len(requests), size):
        if calls and should_stop():
            log.info("shutdown requested: batch stopped after %d generate calls", calls)
            break
        jobs.pregenerate(requests[start:start + size], settings)
        calls += 1
    return calls
