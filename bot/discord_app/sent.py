"""What one request's delivery has already posted, so a retried job never posts anything twice.

A long summary goes out as several messages. If Discord fails on the second part, RQ retries the
whole job; the retry must skip the parts that are already visible. Each posted part's message id
is kept in a Redis hash keyed by the request id, with a TTL that outlives the job's retries. The
hash also keeps the rendering ``variant`` (a DM carries an intro line, which moves the cuts), so a
retry continues with the same parts, and one-off steps (the 👍 / 👎 reactions, the expiry note).
Only ids are stored, never text.
"""

from __future__ import annotations

import json
from typing import Any

from redis import Redis

from bot.queue import redis_connection

KEY = "recap:discord:sent:{request_id}"
VARIANT = "variant"


class SentParts:
    def __init__(self, connection: Redis, request_id: str, ttl_s: int) -> None:
        self.connection, self.key, self.ttl_s = connection, KEY.format(request_id=request_id), ttl_s

    @classmethod
    def for_request(cls, request_id: str, settings: Any) -> SentParts:
        # Kept at least as long as a failed job, so every retry RQ makes still sees it.
        ttl = max(int(settings.failure_ttl_s), 24 * 3600)
        return cls(redis_connection(settings), request_id, ttl)

    def posted(self, part: int | str) -> dict[str, Any] | None:
        """The message (``id``, ``channel_id``) that ``part`` became, if it was posted."""
        raw = self.connection.hget(self.key, str(part))
        return json.loads(raw) if raw else None

    def record(self, part: int | str, message: dict[str, Any], variant: str = "") -> None:
        ids = {"id": str(message.get("id", "")), "channel_id": str(message.get("channel_id", ""))}
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, str(part), json.dumps(ids))
            if variant:  # the first posted part fixes the rendering for every retry
                pipe.hsetnx(self.key, VARIANT, variant)
            pipe.expire(self.key, self.ttl_s)
            pipe.execute()

    def attempt(self, part: int) -> None:
        """Note that ``part`` is about to be sent: if its answer is lost, the retry checks before resending."""
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, f"try:{part}", "1")
            pipe.expire(self.key, self.ttl_s)
            pipe.execute()

    def attempted(self, part: int) -> bool:
        return bool(self.connection.hexists(self.key, f"try:{part}"))

    def part_refs(self) -> list[str]:
        """``channel_id:message_id`` of every posted part, in order (not the reactions or the note)."""
        raw = {_text(key): value for key, value in self.connection.hgetall(self.key).items()}
        parts = sorted((int(key), json.loads(value)) for key, value in raw.items() if key.isdigit())
        return [f"{ids['channel_id']}:{ids['id']}" for _, ids in parts if ids.get("id")]

    def variant(self, default: str) -> str:
        """The rendering the parts already posted used, else ``default``."""
        raw = self.connection.hget(self.key, VARIANT)
        return raw.decode() if isinstance(raw, bytes) else default


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
