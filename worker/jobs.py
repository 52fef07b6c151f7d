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
from bot.queue_limits import has_words
from bot.store import Store, store_for
from config.settings import active_settings
from worker import job_timing
from worker.delivery import DeliveredSummary, TransientDeliveryError, deliverer_for
from worker.job_timing import Generated

if TYPE_CHECKING:  # types only: like get_runtime below, the runtime is imported where it is used
    from worker.model.runtime import SummarizerBackend, SummaryOutput

log = logging.getLogger("recap.worker.jobs")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientDeliveryError, RedisError, ConnectionError, TimeoutError,
)


# Summaries generated ahead of their job by the batching worker: request_id -> Generated (output and timings).
PREGENERATED: dict[str, Generated] = {}
PREGENERATED_LIMIT = 256


def summarize_timed(runtime: SummarizerBackend, dialogues: list[str]) -> tuple[list[SummaryOutput], int]:
    """The runtime's detailed outputs, and how long the whole batch took in ms (stored per summary)."""
    started = time.perf_counter()
    outputs = runtime.summarize_detailed(dialogues)
    return outputs, int((time.perf_counter() - started) * 1000)


def _generate_batch(runtime: SummarizerBackend, dialogues: list[str]) -> list[Generated]:
    """One generate call for several jobs; each gets its share of the time by its input tokens."""
    began = job_timing.utc_now()
    outputs, batch_ms = summarize_timed(runtime, dialogues)
    shares = job_timing.token_shares(batch_ms, [output.input_tokens for output in outputs])
    return [Generated(output, batch_ms, share, began) for output, share in zip(outputs, shares, strict=True)]


def _serve_by_adapter(jobs: list[SummaryJob], settings: Any, store: Store | None = None) -> list[Generated]:
    """Each job by its own adapter, one generate batch per adapter; shares split within each batch."""
    from worker import adapter_jobs

    began = job_timing.utc_now()
    served = adapter_jobs.serve(jobs, settings, store=store)
    results = []
    for name in dict.fromkeys(item.adapter_name for item in served):
        group = [item for item in served if item.adapter_name == name]
        shares = job_timing.token_shares(group[0].latency_ms, [item.output.input_tokens for item in group])
        results += [Generated(item, item.latency_ms, share, began) for item, share in zip(group, shares, strict=True)]
    order = {id(job): index for index, job in enumerate(jobs)}
    return sorted(results, key=lambda result: order[id(result.output.job)])


def pregenerate(jobs: list[SummaryJob], settings: Any) -> None:
    """Summarize several waiting jobs in one batch; each job then picks its output up here."""
    from bot.queue import redis_connection
    from worker import adapter_jobs
    from worker.model.runtime import get_runtime

    job_timing.mark_summarizing(job_timing.fetch_jobs([job.request_id for job in jobs], redis_connection(settings)))
    if adapter_jobs.uses_pool(jobs, settings, store_for(settings)):
        generated = _serve_by_adapter(jobs, settings)
        jobs = [result.output.job for result in generated]  # an adapter that failed to load left its jobs out
    else:
        generated = _generate_batch(get_runtime(settings), [job.dialogue for job in jobs])
    for job, result in zip(jobs, generated, strict=True):
        PREGENERATED[job.request_id] = result
    # Another worker may have taken some of those jobs: forget the oldest entries beyond a bound.
    for stale in list(PREGENERATED)[:-PREGENERATED_LIMIT]:
        PREGENERATED.pop(stale, None)
    log.info("batched %d waiting summaries in %d ms", len(jobs), generated[0].batch_ms if generated else 0)


def _generate(job: SummaryJob, settings: Any, store: Store, rq_job: Job | None = None) -> tuple[int, Generated | None]:
    """Generate (or pick up the batch's output), store the row; returns its id and the generation done here
    (None when the batch did it before this job started)."""
    from worker import adapter_jobs
    from worker.model.runtime import get_runtime

    pregenerated = PREGENERATED.pop(job.request_id, None)
    if adapter_jobs.uses_pool([job], settings, store):
        return _record_by_adapter(job, settings, store, rq_job, pregenerated)
    runtime = get_runtime(settings)
    if pregenerated is None:
        job_timing.mark_summarizing([rq_job])
        generated = _generate_batch(runtime, [job.dialogue])[0]
    else:
        generated = pregenerated
    output = generated.output
    backend, compute_type = job_timing.backend_of(runtime)
    summary_id = store_summary(
        store, job, runtime, output, generated.batch_ms,
        queue_wait_ms=job_timing.queue_wait_ms(rq_job, generated.started_at), generate_ms=generated.share_ms,
        backend=backend, compute_type=compute_type,
    )
    return summary_id, (None if pregenerated is not None else generated)


def store_summary(store: Store, job: SummaryJob, runtime: Any, output: Any, latency_ms: int, **extra: Any) -> int:
    """The summary row (idempotent on request_id) for what ``runtime`` wrote, and the dialogue kept if shared."""
    summary_id = store.record_summary(
        request_id=job.request_id, kind=job.kind, platform=job.platform, workspace=job.workspace,
        channel=job.channel, thread=job.thread, requester=job.requester, model=runtime.model_id,
        adapter=runtime.adapter, prompt_version=runtime.prompt.version, prompt=runtime.prompt.template,
        generation=runtime.generation.as_dict(), input_tokens=output.input_tokens,
        output_tokens=output.output_tokens, message_count=job.message_count, latency_ms=latency_ms,
        text=restore_names(output.text, job.speakers), public=job.public, **extra,
    )
    store.keep_dialogue(summary_id, job.platform, job.workspace, job.dialogue, summary=output.text)
    return summary_id


def _record_by_adapter(job: SummaryJob, settings: Any, store: Store, rq_job: Job | None,
                       pregenerated: Generated | None) -> tuple[int, Generated | None]:
    """The registry path: the job's own adapter (routed at enqueue), then the row names it."""
    from worker import adapter_jobs

    if pregenerated is None or not isinstance(pregenerated.output, adapter_jobs.Served):
        job_timing.mark_summarizing([rq_job])
        generated, here = _serve_by_adapter([job], settings, store)[0], True
    else:
        generated, here = pregenerated, False
    backend, compute_type = job_timing.backend_of(generated.output.backend)
    summary_id = adapter_jobs.record(
        generated.output, store, queue_wait_ms=job_timing.queue_wait_ms(rq_job, generated.started_at),
        generate_ms=generated.share_ms, backend=backend, compute_type=compute_type,
    )
    return summary_id, (generated if here else None)


def summarize(payload: dict[str, Any]) -> dict[str, Any]:
    """Generate (once per request), store, then deliver (once per request)."""
    began = time.perf_counter()
    job = SummaryJob.from_payload(payload)
    settings = active_settings()
    rq_job = job_timing.current_job()
    _no_longer_waiting(job, settings)
    if not has_words(job.dialogue):  # refused at enqueue since; a job queued before that still fails clearly
        raise EmptyConversationError("There is nothing to summarize: the conversation has no words in it.")
    store = store_for(settings)
    existing = store.get_summary_by_request(job.request_id)
    generated_here = None
    if existing is None:
        summary_id, generated_here = _generate(job, settings, store, rq_job)
    else:
        summary_id = existing.id
    row = store.get_summary(summary_id)
    assert row is not None
    delivery_ms = overhead_ms = None
    if row.delivered_at is None:
        summary = DeliveredSummary(
            summary_id=row.id, text=row.text, model=row.model, adapter=row.adapter,
            prompt_version=row.prompt_version, message_count=row.message_count,
        )
        delivering = time.perf_counter()
        reference = deliverer_for(job.platform).deliver(job, summary, settings)
        delivery_ms = round((time.perf_counter() - delivering) * 1000)
        generate_here_ms = generated_here.batch_ms if generated_here else 0
        overhead_ms = max(0, round((time.perf_counter() - began) * 1000) - generate_here_ms)
        store.mark_delivered(row.id, reference)
        store.record_timings(row.id, delivery_ms=delivery_ms, overhead_ms=overhead_ms)
    _log_job(row, delivery_ms, overhead_ms)
    return {"summary_id": row.id, "summary": row.text, "model": row.model, "adapter": row.adapter,
            "backend": row.backend, "compute_type": row.compute_type, "prompt_version": row.prompt_version}


def _no_longer_waiting(job: SummaryJob, settings: Any) -> None:
    """Free the job's place in its workspace's backlog bound (bot.queue_limits) now that it runs."""
    from bot.queue import redis_connection
    from bot.queue_limits import release_workspace_slot

    try:
        release_workspace_slot(redis_connection(settings), job)
    except RedisError:
        log.warning("could not update the backlog count of %s:%s", job.platform, job.workspace or "-")


def _log_job(row: Any, delivery_ms: int | None, overhead_ms: int | None) -> None:
    """One line per job, timings and sizes only (never text); "-" where this run did not deliver."""
    log.info(
        "summary %s: %d input tokens, queue wait %s ms, generate %s ms (batch %d ms), delivery %s ms, "
        "overhead %s ms, %s/%s", row.id, row.input_tokens, row.queue_wait_ms, row.generate_ms, row.latency_ms,
        "-" if delivery_ms is None else delivery_ms, "-" if overhead_ms is None else overhead_ms,
        row.backend, row.compute_type,
    )


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
