"""Per-user rate limits and one-time request claims, both backed by Redis so every bot process agrees.

Callers pass the process's shared client (`bot.queue.redis_connection(settings)`), so limits and claims
use the same connection pool as the queue; a Redis fault gets the queue's message for its cause."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from bot.queue import unavailable


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0

    def message(self) -> str:
        minutes = max(1, round(self.retry_after_s / 60))
        return f"You have asked for many summaries recently. Please try again in about {minutes} min."


def check_rate_limit(connection: Redis, user_key: str, settings: Any, now: float | None = None) -> RateDecision:
    """Fixed-window counter: at most rate_limit_requests per rate_limit_window_s per user."""
    window = settings.rate_limit_window_s
    now = time.time() if now is None else now
    bucket = int(now // window)
    key = f"recap:rate:{user_key}:{bucket}"
    try:
        with connection.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, window + 5)
            count, _ = pipe.execute()
    except RedisError as exc:
        raise unavailable(exc, settings) from exc
    if count <= settings.rate_limit_requests:
        return RateDecision(True)
    return RateDecision(False, retry_after_s=int((bucket + 1) * window - now) + 1)


def claim_once(connection: Redis, key: str, ttl_s: int = 86400) -> bool:
    """True the first time ``key`` is claimed within ``ttl_s``; False for repeats (retries, double clicks)."""
    try:
        return bool(connection.set(f"recap:claim:{key}", "1", nx=True, ex=ttl_s))
    except RedisError as exc:
        raise unavailable(exc) from exc


def release_claim(connection: Redis, key: str) -> None:
    """Forget a claim whose work never happened, so a platform retry is processed after all."""
    try:
        connection.delete(f"recap:claim:{key}")
    except RedisError:
        pass


def extend_claim(connection: Redis, key: str, ttl_s: int) -> None:
    """Hold a claim for ``ttl_s`` once its work is queued or answered. Claims start short-lived, so a
    process that dies mid-request leaves nothing that would swallow the platform's retry for long."""
    try:
        connection.set(f"recap:claim:{key}", "1", ex=ttl_s)
    except RedisError:
        pass  # the short claim still stands; a late retry would be deduplicated by the job id
