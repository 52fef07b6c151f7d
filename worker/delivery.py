"""Pluggable delivery: which module posts a finished summary back to its platform.

Each platform module exposes ``deliver(job, summary, settings) -> str | None`` (returning a
message reference used later to tie reactions to the summary) and
``notify_failure(job, reason, settings) -> None``. The playground and the CLI read the job
result instead, so their deliverer only returns a reference.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.queue import SummaryJob

__all__ = ["DELIVERERS", "DeliveredSummary", "Deliverer", "TransientDeliveryError", "deliverer_for"]

DELIVERERS: dict[str, str] = {
    "playground": "worker.delivery",
    "cli": "worker.delivery",
    "slack": "bot.slack_app.deliver",
    "discord": "bot.discord_app.deliver",
}


class Deliverer(Protocol):
    def deliver(self, job: SummaryJob, summary: DeliveredSummary, settings: Any) -> str | None: ...

    def notify_failure(self, job: SummaryJob, reason: str, settings: Any) -> None: ...


def deliverer_for(platform: str) -> ModuleType:
    try:
        path = DELIVERERS[platform]
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}; expected one of {sorted(DELIVERERS)}") from None
    return importlib.import_module(path)


# The playground and CLI deliverer: the result travels back as the RQ job's return value.


def deliver(job: SummaryJob, summary: DeliveredSummary, settings: Any) -> str | None:
    return f"{job.platform}:{summary.summary_id}"


def notify_failure(job: SummaryJob, reason: str, settings: Any) -> None:
    """The playground and CLI show the failed job's reason themselves."""
