"""What a platform deliverer receives and may raise; shared by the worker and the platform adapters."""

from __future__ import annotations

from dataclasses import dataclass


class TransientDeliveryError(RuntimeError):
    """The platform said 'try later' (429, 5xx, network): the job is retried."""


@dataclass(frozen=True)
class DeliveredSummary:
    summary_id: int
    text: str
    model: str
    adapter: str | None
    prompt_version: str
    message_count: int = 0
