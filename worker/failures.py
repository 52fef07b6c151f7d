"""What happens when a summary job raises: wait out faults that pass, give up on the rest.

RQ calls ``worker.jobs.on_failure`` first and decides afterwards, from ``job.retries_left``, whether
to retry (``job.retry``: scheduled at now + ``job.get_retry_interval()`` in the ScheduledJobRegistry,
one retry counted down). So the policy here only shapes those two fields on the job object RQ is
about to use:

- a platform wait (``TransientDeliveryError(retry_after_s=X)``): the next retry is at now + X, not at
  the fixed ``RECAP_RETRY_INTERVALS_S``, as long as now + X is inside the platform's delivery window;
- a store fault (connection refused or dropped, "database is locked", serialization failure): retried
  with a growing backoff for up to ``RECAP_STORE_RETRY_WINDOW_S`` without spending the retry budget;
- an abandoned job (its worker died): retries are left as they are; RQ or the recovery pass re-runs it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from rq.exceptions import AbandonedJobError
from rq.job import Job

from bot.delivery import TransientDeliveryError

INTERVALS_META = "recap_retry_intervals"  # the job's configured intervals, kept while a platform wait replaces them
FAULT_SINCE_META = "recap_store_fault_since"
FAULT_COUNT_META = "recap_store_fault_count"
STORE_BACKOFF_MAX_S = 30
PAST_WINDOW_MESSAGE = ("Your summary is ready, but {platform} would not take it before its reply window closed. "
                       "Ask again for a fresh one.")
STORE_MESSAGE = "The summary store could not be reached for a long while. Please try again later."


@dataclass(frozen=True)
class Decision:
    retry: bool
    reason: str  # for the log line: what kind of failure this was
    message: str | None = None  # what to tell the requester when giving up (None: user_message_for)


def is_store_fault(error: BaseException | None) -> bool:
    """A database error that passes: the connection, a lock, a serialization conflict (also when wrapped)."""
    from bot.store.errors import is_transient

    seen = 0
    while error is not None and seen < 5:
        if type(error).__name__ == "StoreUnavailableError" or is_transient(error):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def restore_intervals(job: Job) -> None:
    """Undo an earlier platform wait, so an ordinary transient error gets the configured intervals."""
    saved = job.meta.pop(INTERVALS_META, None)
    if saved is not None:
        job.retry_intervals = list(saved)


def retry_in(job: Job, seconds: float) -> None:
    """Make RQ's coming ``job.retry`` schedule the job at now + seconds (one retry counted down)."""
    job.meta.setdefault(INTERVALS_META, list(job.retry_intervals or [0]))
    job.retry_intervals = [max(1, math.ceil(seconds))]


def delivery_deadline(job: Job, platform: str, settings: Any) -> float | None:
    """Unix time after which the platform no longer takes this request's reply; None: no window."""
    window = getattr(settings, "delivery_windows_s", {}).get(platform)
    if not window or job.created_at is None:
        return None
    return job.created_at.timestamp() + window


def decide(job: Job, error: BaseException | None, platform: str, settings: Any) -> Decision:
    restore_intervals(job)
    if isinstance(error, AbandonedJobError):
        return Decision(job.should_retry, "abandoned by its worker")
    if is_store_fault(error):
        return _store_fault(job, settings)
    job.meta.pop(FAULT_SINCE_META, None)
    job.meta.pop(FAULT_COUNT_META, None)
    if isinstance(error, TransientDeliveryError) and error.retry_after_s is not None:
        return _platform_wait(job, error.retry_after_s, platform, settings)
    from worker.jobs import TRANSIENT_ERRORS

    retry = isinstance(error, TRANSIENT_ERRORS) and job.should_retry
    return Decision(retry, "transient" if retry else "permanent")


def _platform_wait(job: Job, wait_s: float, platform: str, settings: Any) -> Decision:
    if not job.should_retry:
        return Decision(False, f"platform wait {wait_s:.0f} s, no retries left")
    deadline = delivery_deadline(job, platform, settings)
    if deadline is not None and time.time() + wait_s > deadline:
        return Decision(False, f"platform wait {wait_s:.0f} s ends past the delivery window",
                        PAST_WINDOW_MESSAGE.format(platform=platform.capitalize()))
    retry_in(job, wait_s)
    return Decision(True, f"platform wait {wait_s:.0f} s")


def _store_fault(job: Job, settings: Any) -> Decision:
    since = float(job.meta.setdefault(FAULT_SINCE_META, time.time()))
    count = int(job.meta.get(FAULT_COUNT_META, 0))
    if time.time() - since > settings.store_retry_window_s:
        return Decision(False, "store unreachable past RECAP_STORE_RETRY_WINDOW_S", STORE_MESSAGE)
    job.meta[FAULT_COUNT_META] = count + 1
    job.retries_left = (job.retries_left or 0) + 1  # RQ counts one down again: the budget is not spent
    retry_in(job, min(2 ** count, STORE_BACKOFF_MAX_S))
    return Decision(True, f"store fault #{count + 1}")
