"""Container health check for the worker: is THIS container's worker registered in Redis and alive?

Each container checks the worker started on its own hostname, so a hung worker makes its own container
unhealthy even when other replicas are fine. Alive means its upkeep thread refreshed
``recap:worker:alive:<name>`` within RECAP_WORKER_ALIVE_TTL_S.
"""

from __future__ import annotations

import socket

from rq import Worker

from bot.queue import redis_connection, summary_queue
from config.settings import active_settings
from worker.recovery import ALIVE_KEY


def main(hostname: str | None = None) -> int:
    settings = active_settings()
    connection = redis_connection(settings)
    hostname = hostname or socket.gethostname()
    mine = [w for w in Worker.all(connection=connection, queue=summary_queue(settings, connection))
            if w.hostname == hostname]
    # RQ's own worker hash outlives a killed worker by up to the job timeout; the alive key does not.
    alive = [w for w in mine if connection.exists(ALIVE_KEY.format(w.name))]
    return 0 if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
