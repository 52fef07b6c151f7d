"""The worker container's health check looks at its own worker's heartbeat, not at any worker anywhere."""

from __future__ import annotations

import socket
import time

from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.queue import summary_queue
from config.settings import Settings
from worker.health import main as health
from worker.recovery import ALIVE_KEY


def registered(redis_conn: Redis, settings: Settings, ttl: int = 420) -> SimpleWorker:
    worker = SimpleWorker([summary_queue(settings, redis_conn)], connection=redis_conn, serializer=JSONSerializer,
                          worker_ttl=ttl)
    worker.register_birth()
    worker.heartbeat(ttl)
    redis_conn.set(ALIVE_KEY.format(worker.name), 1, ex=ttl)  # what the worker's upkeep thread does
    return worker


def test_healthy_only_with_this_hosts_worker(redis_conn: Redis, settings: Settings) -> None:
    assert health() == 1  # nothing registered
    worker = registered(redis_conn, settings)
    assert health() == 0 and worker.hostname == socket.gethostname()
    assert health(hostname="another-container") == 1  # a replica's worker does not make this one healthy
    worker.register_death()
    assert health() == 1


def test_a_worker_that_stops_heartbeating_turns_unhealthy(redis_conn: Redis, settings: Settings) -> None:
    registered(redis_conn, settings, ttl=1)  # a hung worker: no heartbeat after this one
    assert health() == 0
    time.sleep(2.2)
    assert health() == 1
