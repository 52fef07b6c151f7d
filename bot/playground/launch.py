"""`recap demo`: the playground plus what it needs, on a fresh machine.

It uses Redis at RECAP_REDIS_URL when reachable; otherwise it starts a private, in-memory
redis-server on a free local port (if one is installed) for as long as the demo runs. It starts
one `recap worker` process beside the web page, so the whole path (queue, worker, store) runs, and
prints the page's URL only once that worker has loaded the model (or says why it could not).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any

from bot.playground.workers import DemoWorker
from bot.queue import QueueUnavailableError, ping, redis_connection

log = logging.getLogger("recap.demo")


class DemoStartError(RuntimeError):
    """The demo's worker could not load the model; the message carries the worker's own reason."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_private_redis(stack: ExitStack) -> str:
    """Start an in-memory redis-server on a free port; it stops with the demo."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise QueueUnavailableError(
            "Redis is not reachable at RECAP_REDIS_URL and redis-server is not installed. "
            "Install Redis (apt install redis-server, brew install redis) or run `docker compose up -d redis`."
        )
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, process)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        try:
            ping(SimpleNamespace(redis_url=url))
            return url
        except QueueUnavailableError:  # not up yet
            time.sleep(0.1)
    raise QueueUnavailableError("The private redis-server did not start.")


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def spawn_worker(settings: Any, stack: ExitStack) -> DemoWorker:
    env = dict(os.environ)
    env.update({"RECAP_REDIS_URL": settings.redis_url, "RECAP_MODEL": settings.model,
                "RECAP_STORE_URL": settings.store_url})
    if settings.adapter:
        env["RECAP_ADAPTER"] = settings.adapter
    process = subprocess.Popen([sys.executable, "-m", "recap", "worker"], env=env, stderr=subprocess.PIPE, text=True,
                               bufsize=1)
    stack.callback(_stop, process)
    return DemoWorker(process, redis_connection(settings), settings)


def wait_until_loaded(worker: DemoWorker, poll_s: float = 0.3) -> None:
    """Block until the worker has registered (its model is loaded); raise with its reason if it exits first."""
    print("Loading the model in the worker process (a hub model is downloaded on first use)…", flush=True)
    while True:
        status = worker.status()
        if status.state == "ready":
            return
        if status.state == "stopped":
            raise DemoStartError(worker.reason())
        time.sleep(poll_s)


def run_demo(settings: Any, *, start_worker: bool = True) -> None:
    import uvicorn

    from bot.playground.app import create_app

    with ExitStack() as stack:
        try:
            ping(settings)
        except QueueUnavailableError:
            url = start_private_redis(stack)
            log.warning("Redis at %s is not reachable: using a private in-memory Redis for this demo.",
                        settings.redis_url)
            settings = settings.model_copy(update={"redis_url": url})
        worker = spawn_worker(settings, stack) if start_worker else None
        if worker is not None:
            wait_until_loaded(worker)
        app = create_app(settings, workers=worker)
        print(f"Recap playground: http://{settings.demo_host}:{settings.demo_port}  (Ctrl+C to stop)", flush=True)
        uvicorn.run(app, host=settings.demo_host, port=settings.demo_port, log_level="warning")
