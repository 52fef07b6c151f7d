"""What a platform deliverer receives and may raise; shared by the worker and the platform adapters."""

from __future__ import annotations

from dataclasses import dataclass


class TransientDeliveryError(RuntimeError):
    """The platform said 'try later' (429, 5xx, network): the job is retried.

    ``retry_after_s`` is the platform's own wait (429 ``retry_after`` / ``Retry-After``), when it gave one;
    the job is then rescheduled for when the limit ends instead of at fixed intervals.
    """

    def __init__(self, message: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class DeliveredSummary:
    summary_id: int
    text: str
    model: str
    adapter: str | None
    prompt_version: str
    message_count: int = 0
