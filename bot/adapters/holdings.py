"""What each worker holds, as the workers publish it to Redis (`worker.adapter_jobs.publish_holdings`).

`recap doctor` prints `holdings_lines(settings)`; a worker's entry expires RECAP_ADAPTER_STATUS_TTL_S after
its last publication, so a stopped worker drops off the list.
"""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import RedisError

from bot.queue import redis_connection

HOLDINGS_PREFIX = "recap:adapters:held:"


def worker_holdings(settings: Any, connection: Any = None) -> list[dict[str, Any]]:
    """Every live worker's published holdings, sorted by worker name."""
    connection = connection or redis_connection(settings)
    found = []
    for key in connection.scan_iter(match=HOLDINGS_PREFIX + "*", count=100):
        raw = connection.get(key)
        if raw:
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
    return sorted(found, key=lambda body: body.get("worker", ""))


def _adapter_text(entry: dict[str, Any]) -> str:
    if entry.get("loaded"):
        size = f", {entry['mb']} MB" if entry.get("mb") else ""
        return f"{entry['adapter']} (loaded{size})"
    return f"{entry['adapter']} ({'loading' if entry.get('loading') else 'not loaded'})"


def holdings_lines(settings: Any, connection: Any = None) -> list[str]:
    """One line per worker: its base model, backend, and each adapter it serves (loaded or not)."""
    try:
        workers = worker_holdings(settings, connection)
    except RedisError as exc:
        return [f"cannot read worker adapters from Redis: {exc.__class__.__name__}"]
    if not workers:
        return ["no worker has published its adapters (is a worker running?)"]
    return [
        f"{body.get('worker')}: {body.get('base_model')} on {body.get('backend')}: "
        + (", ".join(_adapter_text(entry) for entry in body.get("adapters", [])) or "no adapters")
        for body in workers
    ]


def doctor_adapters(settings: Any, connection: Any = None) -> str:
    """The `recap doctor` line: registered adapters and, per live worker, what it holds."""
    from bot.adapters.registry import Registry
    from bot.store import store_for

    registry = Registry(store_for(settings))
    live = [record.name for record in registry.all(include_retired=False)]
    default = registry.default_name() or "the worker's RECAP_ADAPTER"
    registered = f"{len(live)} registered ({', '.join(live) or 'none'}), default {default}"
    return "; ".join([registered, *holdings_lines(settings, connection)])
