"""Container health check for the worker: is a Recap worker registered in Redis and alive?

Alive means its upkeep thread refreshed ``recap:worker:alive:<name>`` within RECAP_WORKER_ALIVE_TTL_S: RQ's
own worker hash outlives a killed worker by up to the job timeout.
"""

from __future__ import annotations

from rq import Worker

from bot.queue import redis_connection, summary_queue
from config.settings import active_settings
from worker.recovery import ALIVE_KEY


def main() -> int:
    settings = active_settings()
    connection = redis_connection(settings)
    workers = Worker.all(queue=summary_queue(settings, connection))
    alive = [worker for worker in workers if connection.exists(ALIVE_KEY.format(worker.name))]
    return 0 if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
