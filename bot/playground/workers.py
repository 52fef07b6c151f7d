"""Is a worker there to answer? For `recap demo`, the one worker process it started; otherwise RQ's registry."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from redis.exceptions import RedisError
from rq import Worker

from bot.queue import summary_queue


@dataclass(frozen=True)
class WorkerStatus:
    state: str  # loading | ready | stopped | none
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def registered_workers(connection: Any, settings: Any) -> list[Worker]:
    return Worker.all(connection=connection, queue=summary_queue(settings, connection))


class RegistryWorkers:
    """The playground beside workers it did not start (docker compose): ready once any has registered."""

    def __init__(self, connection: Any, settings: Any) -> None:
        self.connection, self.settings = connection, settings

    def status(self) -> WorkerStatus:
        try:
            if registered_workers(self.connection, self.settings):
                return WorkerStatus("ready")
        except RedisError:
            return WorkerStatus("none", "The summary queue (Redis) is not reachable right now.")
        return WorkerStatus("none", "No worker has registered yet. A worker registers once its model is loaded; "
                                    "start one with `recap worker` if none is running.")


class DemoWorker:
    """The worker process `recap demo` started: loading until it registers in RQ, stopped (with why) once it exits.

    Its stderr is passed through to the terminal; the last lines are kept as the reason if it dies (worker logs
    carry ids and counts, never message text)."""

    def __init__(self, process: subprocess.Popen[str], connection: Any, settings: Any) -> None:
        self.process, self.connection, self.settings = process, connection, settings
        self._tail: deque[str] = deque(maxlen=20)
        self._ready = False
        self._pump_thread = threading.Thread(target=self._pump, args=(process.stderr,), daemon=True)
        if process.stderr is not None:
            self._pump_thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            sys.stderr.write(line)
            if line.strip():
                self._tail.append(line.strip())

    def reason(self) -> str:
        errors = [line for line in self._tail if line.startswith("Error:")]
        last = errors[-1] if errors else (self._tail[-1] if self._tail else "")
        detail = f": {last.removeprefix('Error:').strip()}" if last else ""
        return f"The worker process stopped (exit status {self.process.returncode}){detail}"

    def status(self) -> WorkerStatus:
        if self.process.poll() is not None:
            if self._pump_thread.is_alive():
                self._pump_thread.join(timeout=2)  # its last lines are the reason
            return WorkerStatus("stopped", f"{self.reason().rstrip('.')}. Restart `recap demo` after fixing it.")
        if not self._ready:
            try:
                self._ready = any(w.pid == self.process.pid for w in registered_workers(self.connection, self.settings))
            except RedisError:
                pass  # asked again on the next poll
        return WorkerStatus("ready") if self._ready else WorkerStatus("loading", "The worker is loading the model.")
