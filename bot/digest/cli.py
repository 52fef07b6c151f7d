"""`recap scheduler`: run the digest scheduler (one leader among any number of copies).

Mount with `app.command("scheduler")(scheduler_command)`. It needs Redis and the store; digest jobs
run on the ordinary `recap worker`.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Any

import typer


def scheduler_command(
    interval: Annotated[float, typer.Option("--interval", min=1, help="Seconds between ticks.")] = 20,
    once: Annotated[bool, typer.Option("--once", help="Tick once (if leader) and exit.")] = False,
) -> None:
    """Post daily digests on time: enqueue due digest jobs (only the leader among schedulers does)."""
    from bot.digest.scheduler import DigestScheduler
    from config.logging import setup_logging
    from config.settings import active_settings

    settings = active_settings()
    setup_logging(settings.log_level)
    scheduler = DigestScheduler(settings, lock_ttl_s=max(60, interval * 3))
    if once:
        report = scheduler.tick()
        scheduler.lock.release()
        typer.echo(f"leader={report.leader} enqueued={len(report.enqueued)} skipped={len(report.skipped)}")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from worker.upkeep import recovery_thread  # entry-point glue (no torch): dead workers' jobs, expired jobs

    recovery_thread(settings, stop)
    _auto_stop_thread(settings, stop)
    scheduler.run(interval_s=interval, stop=stop)


def _auto_stop_thread(settings: Any, stop: threading.Event, every_s: float = 60) -> None:
    """Each minute, stop A/B experiments whose losing arm is clear (entry-point glue, like the recovery pass)."""
    from bot.store import store_for
    from training.abtest import auto_stop

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                auto_stop(store_for(settings), settings)
            except Exception:  # noqa: BLE001 - the digest scheduler must keep running
                logging.getLogger("recap.abtest").warning("experiment auto-stop skipped", exc_info=True)

    threading.Thread(target=loop, name="recap-ab-auto-stop", daemon=True).start()
