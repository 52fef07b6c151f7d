"""`recap doctor`: check each part a deployment needs and say what to fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console


def _check(console: Console, label: str, action: Callable[[], str]) -> bool:
    try:
        detail = action()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal here
        console.print(f"[red]✗[/red] {label}: {exc}", highlight=False)
        return False
    console.print(f"[green]✓[/green] {label}: {detail}", highlight=False)
    return True


def _redis(settings: Any) -> str:
    from bot.queue import QueueUnavailableError, ping

    try:
        ping(settings)
    except QueueUnavailableError:
        raise RuntimeError(
            f"cannot reach {settings.redis_url}. Start Redis (docker compose up -d redis) or fix RECAP_REDIS_URL."
        ) from None
    return f"reachable at {settings.redis_url}"


def _store(settings: Any, fix: bool) -> str:
    from bot.store import Store
    from bot.store.schema import upgrade_store

    if fix:
        upgrade_store(settings.store_url)
    store = Store.from_settings(settings)
    return f"tables ready at revision {store.revision} ({store.display_url})"


def _voter_salt(settings: Any, console: Console) -> None:
    """A warning, not a failure: votes still work, but their hashes use the old constant salt."""
    from bot.store import Store

    if Store.from_settings(settings).uses_legacy_salt():
        console.print("[yellow]![/yellow] voter salt: voter hashes use the old default salt \"recap\"; set "
                      "RECAP_VOTER_SALT to a random secret (existing votes then no longer match their voters)",
                      highlight=False)


def _model(settings: Any) -> str:
    from worker.model.runtime import get_runtime

    runtime = get_runtime(settings)
    runtime.warmup()
    from bot.playground.model_info import is_random_test_model

    adapter = f" + adapter {runtime.adapter}" if runtime.adapter else ""
    random = " (a random test model from `recap model tiny`: its summaries are noise)" \
        if is_random_test_model(runtime.model_id) else ""
    return f"{runtime.model_id}{adapter} loaded on {runtime.device}{random}"


def run_checks(load: Callable[[], Any], console: Console, *, load_model: bool = True, fix: bool = False) -> bool:
    holder: dict[str, Any] = {}

    def config() -> str:
        holder["settings"] = load()
        return "valid"

    if not _check(console, "config", config):
        return False
    settings = holder["settings"]
    results = [_check(console, "redis", lambda: _redis(settings)),
               _check(console, "store", lambda: _store(settings, fix))]
    if results[-1]:
        _voter_salt(settings, console)
        results.append(_check(console, "adapters", lambda: _adapters(settings)))
    if load_model:
        with console.status("Loading the model…"):
            results.append(_check(console, "model", lambda: _model(settings)))
    results.append(_check(console, "backend", lambda: _backend(settings)))
    return all(results)


def _adapters(settings: Any) -> str:
    from bot.adapters.holdings import doctor_adapters

    return doctor_adapters(settings)


def _backend(settings: Any) -> str:
    from worker.model.backend import describe_backend

    return describe_backend(settings)
