"""Container health check for the worker: is THIS container's worker registered in Redis and heartbeating?

Each container checks the worker started on its own hostname, so a hung worker makes its own container
unhealthy even when other replicas are fine. RQ lets a worker's key expire when its heartbeats stop, so a
registered worker whose key still has a TTL has heartbeated within its worker TTL.
"""

from __future__ import annotations

import socket

from rq import Worker

from bot.queue import redis_connection, summary_queue
from config.settings import active_settings


def main(hostname: str | None = None) -> int:
    settings = active_settings()
    connection = redis_connection(settings)
    hostname = hostname or socket.gethostname()
    mine = [w for w in Worker.all(connection=connection, queue=summary_queue(settings, connection))
            if w.hostname == hostname]
    alive = [w for w in mine if w.last_heartbeat is not None and connection.ttl(w.key) != -2]
    return 0 if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
