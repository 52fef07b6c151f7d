"""Container health check for the worker: is a Recap worker registered in Redis and alive?"""

from __future__ import annotations

from rq import Worker

from bot.queue import redis_connection, summary_queue
from config.settings import active_settings


def main() -> int:
    settings = active_settings()
    connection = redis_connection(settings)
    workers = Worker.all(queue=summary_queue(settings, connection))
    return 0 if workers else 1


if __name__ == "__main__":
    raise SystemExit(main())
