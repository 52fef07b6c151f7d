"""RQ jobs: thin functions over the model runtime, the store and the platform deliverers."""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job

from bot.dialogue import EmptyConversationError, restore_names
from bot.queue import PayloadError, SummaryJob
from bot.store import Store, store_for
from config.settings import active_settings
from worker.delivery import DeliveredSummary, TransientDeliveryError, deliverer_for

if TYPE_CHECKING:  # types only: like get_runtime below, the runtime is imported where it is used
    from worker.model.runtime import SummarizerBackend, SummaryOutput

log = logging.getLogger("recap.worker.jobs")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientDeliveryError, RedisError, ConnectionError, TimeoutError,
)


# Summaries generated ahead of their job by the batching worker: request_id -> (output, latency_ms).
PREGENERATED: dict[str, tuple[Any, int]] = {}
PREGENERATED_LIMIT = 256


def summarize_timed(runtime: SummarizerBackend, dialogues: list[str]) -> tuple[list[SummaryOutput], int]:
    """The runtime's detailed outputs, and how long the whole batch took in ms (stored per summary)."""
    started = time.perf_counter()
    outputs = runtime.summarize_detailed(dialogues)
    return outputs, int((time.perf_counter() - started) * 1000)


def pregenerate(jobs: list[SummaryJob], settings: Any) -> None:
    """Summarize several waiting jobs in one batch; each job then picks its output up here."""
    from worker.model.runtime import get_runtime

    outputs, latency_ms = summarize_timed(get_runtime(settings), [job.dialogue for job in jobs])
    for job, output in zip(jobs, outputs, strict=True):
        PREGENERATED[job.request_id] = (output, latency_ms)
    # Another worker may have taken some of those jobs: forget the oldest entries beyond a bound.
    for stale in list(PREGENERATED)[:-PREGENERATED_LIMIT]:
        PREGENERATED.pop(stale, None)
    log.info("batched %d waiting summaries in %d ms", len(jobs), latency_ms)


def _generate(job: SummaryJob, settings: Any, store: Store) -> int:
    from worker.model.runtime import get_runtime

    runtime = get_runtime(settings)
    if job.request_id in PREGENERATED:
        output, latency_ms = PREGENERATED.pop(job.request_id)
    else:
        outputs, latency_ms = summarize_timed(runtime, [job.dialogue])
        output = outputs[0]
    summary_id = store.record_summary(
        request_id=job.request_id, kind=job.kind, platform=job.platform, workspace=job.workspace,
        channel=job.channel, thread=job.thread, requester=job.requester, model=runtime.model_id,
        adapter=runtime.adapter, prompt_version=runtime.prompt.version, prompt=runtime.prompt.template,
        generation=runtime.generation.as_dict(), input_tokens=output.input_tokens,
        output_tokens=output.output_tokens, message_count=job.message_count, latency_ms=latency_ms,
        text=restore_names(output.text, job.speakers), public=job.public,
    )
    store.keep_dialogue(summary_id, job.platform, job.workspace, job.dialogue, summary=output.text)
    log.info("summary %s: %d input tokens, %d parts, %d ms", summary_id, output.input_tokens, output.parts, latency_ms)
    return summary_id


def summarize(payload: dict[str, Any]) -> dict[str, Any]:
    """Generate (once per request), store, then deliver (once per request)."""
    job = SummaryJob.from_payload(payload)
    settings = active_settings()
    store = store_for(settings)
    existing = store.get_summary_by_request(job.request_id)
    summary_id = existing.id if existing is not None else _generate(job, settings, store)
    row = store.get_summary(summary_id)
    assert row is not None
    if row.delivered_at is None:
        summary = DeliveredSummary(
            summary_id=row.id, text=row.text, model=row.model, adapter=row.adapter,
            prompt_version=row.prompt_version, message_count=row.message_count,
        )
        reference = deliverer_for(job.platform).deliver(job, summary, settings)
        store.mark_delivered(row.id, reference)
    return {"summary_id": row.id, "summary": row.text, "model": row.model, "adapter": row.adapter,
            "prompt_version": row.prompt_version}


def user_message_for(error: BaseException | None) -> str:
    """A short sentence for the person who asked; never a traceback."""
    from worker.failures import STORE_MESSAGE, is_store_fault
    from worker.model.runtime import ModelLoadError

    if isinstance(error, EmptyConversationError):
        return "There was nothing to summarize: no messages from people in that range."
    if isinstance(error, ModelLoadError):
        return "The summarizer model could not be loaded. An operator needs to check RECAP_MODEL / RECAP_ADAPTER."
    if isinstance(error, PayloadError):
        return "This request could not be read by the worker (version mismatch). Please try again."
    if is_store_fault(error):
        return STORE_MESSAGE
    if isinstance(error, TRANSIENT_ERRORS):
        return "The summary could not be delivered after several tries. Please try again in a few minutes."
    if error is not None and error.__class__.__name__ == "JobTimeoutException":
        return "Summarizing took too long and was stopped. Try a shorter range."
    if error is not None and error.__class__.__name__ == "AbandonedJobError":
        return "The worker summarizing this stopped several times. The error was logged for the operators."
    return "Something went wrong while summarizing. The error was logged for the operators."


def _already_delivered(request: SummaryJob) -> bool:
    try:
        row = store_for(active_settings()).get_summary_by_request(request.request_id)
    except Exception:  # noqa: BLE001 - the store may be what failed
        return False
    return row is not None and row.delivered_at is not None


def _request_of(job: Job) -> SummaryJob | None:
    try:
        return SummaryJob.from_payload(job.args[0])
    except (PayloadError, IndexError, TypeError):
        return None


def on_failure(
    job: Job, connection: Redis, exc_type: type[BaseException] | None,
    exc_value: BaseException | None, traceback: TracebackType | None,
) -> None:
    """RQ failure callback: wait out faults that pass (worker.failures), otherwise tell the requester once."""
    from worker.failures import Decision, decide
    from worker.notices import forget_text, tell_requester

    settings = active_settings()
    request = _request_of(job)
    name = exc_type.__name__ if exc_type else "unknown error"
    try:
        decision = decide(job, exc_value, request.platform if request else "", settings)
    except Exception:  # noqa: BLE001 - a broken policy must not lose the job: RQ's own retry rules apply
        log.exception("job %s: retry policy failed", job.id)
        decision = Decision(job.should_retry and isinstance(exc_value, TRANSIENT_ERRORS), "policy error")
    if decision.retry:
        log.warning("job %s: %s (%s), %s retries left", job.id, name, decision.reason, job.retries_left)
        _save_meta(job)
        return
    job.retries_left = 0  # a permanent error will not get better by retrying
    log.error("job %s failed: %s (%s)", job.id, name, decision.reason)
    message = decision.message or user_message_for(exc_value)
    job.meta["user_error"] = message
    _save_meta(job)
    if request is not None and not _already_delivered(request):
        tell_requester(request, message, settings)
    forget_text(job, settings)


def _save_meta(job: Job) -> None:
    try:
        job.save_meta()
    except RedisError:
        log.warning("job %s: could not save its meta (Redis)", job.id)
