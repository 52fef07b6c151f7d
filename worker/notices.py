"""Telling a requester that their summary will not come, and forgetting the conversation text of failed jobs.

A notice that meets a platform wait is sent once more after it: inline when the wait is short, else as a
small follow-up job (routing only, no text) scheduled for when the wait ends. A notice that still fails is
logged with the job id: the summary row, if any, stays stored as undelivered.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from rq.job import Job

from bot.delivery import TransientDeliveryError
from bot.queue import SummaryJob, job_id_for, redis_connection, summary_queue

log = logging.getLogger("recap.worker.notices")

INLINE_WAIT_S = 5.0  # a notice wait up to this long is slept through in the worker
NOTICE_JOB = "worker.notices.send_notice"
TEXT_FIELDS = ("dialogue", "speakers")


def routing_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without the conversation: enough to reach the requester, nothing they said."""
    kept = dict(payload)
    kept["dialogue"] = ""
    kept["speakers"] = {}
    return kept


def forget_text(job: Job, settings: Any) -> None:
    """Before RQ files the failed job: drop the dialogue from what it saves, and keep it only briefly."""
    if job.args and isinstance(job.args[0], dict):
        job.args = (routing_payload(job.args[0]), *job.args[1:])
    job.failure_ttl = settings.failed_job_ttl_s


def tell_requester(request: SummaryJob, message: str, settings: Any) -> bool:
    """Send the failure notice; True when it went out (now), False when it was put off or lost (logged)."""
    from worker.delivery import deliverer_for

    try:
        deliverer_for(request.platform).notify_failure(request, message, settings)
        return True
    except TransientDeliveryError as exc:
        return _after_wait(request, message, settings, exc.retry_after_s or 1.0)
    except Exception:  # noqa: BLE001 - logged; the platform helpers add their own fallbacks
        log.exception("request %s: the failure notice could not be sent", request.request_id)
        return False


def _after_wait(request: SummaryJob, message: str, settings: Any, wait_s: float) -> bool:
    if wait_s > INLINE_WAIT_S:
        schedule_notice(request, message, settings, wait_s)
        return False
    time.sleep(wait_s)
    return send_once(request, message, settings)


def send_once(request: SummaryJob, message: str, settings: Any) -> bool:
    from worker.delivery import deliverer_for

    try:
        deliverer_for(request.platform).notify_failure(request, message, settings)
        return True
    except Exception:  # noqa: BLE001 - the second and last try: say so in the log
        log.exception("request %s: the failure notice failed again; giving up", request.request_id)
        return False


def schedule_notice(request: SummaryJob, message: str, settings: Any, wait_s: float) -> None:
    """One follow-up job, at now + wait, holding only routing info and the sentence to send."""
    try:
        queue = summary_queue(settings, redis_connection(settings))
        queue.enqueue_in(timedelta(seconds=wait_s), NOTICE_JOB, routing_payload(request.to_payload()), message,
                         job_id=job_id_for("notice:" + request.request_id), result_ttl=60,
                         failure_ttl=settings.failed_job_ttl_s, ttl=int(wait_s) + 3600)
        log.warning("request %s: failure notice put off %.0f s by the platform", request.request_id, wait_s)
    except Exception:  # noqa: BLE001 - Redis may be what failed
        log.exception("request %s: could not schedule the failure notice", request.request_id)


def send_notice(payload: dict[str, Any], message: str) -> bool:
    """RQ job: the put-off failure notice, sent once; a failure is logged, not retried again."""
    from config.settings import active_settings

    return send_once(SummaryJob.from_payload(payload), message, active_settings())
