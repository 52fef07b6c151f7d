"""Jobs/s of the batching worker versus RQ's plain SimpleWorker, on the same queue and model, in one run.

    .venv/bin/python benchmarks/bench_worker.py                         # tiny random T5, Redis db 7
    .venv/bin/python benchmarks/bench_worker.py --model google/flan-t5-base --jobs 32

Each round enqueues the same number of summary jobs (fresh request ids) and drains the queue in burst
mode; the table reports the best of the rounds and the speed-up of batching over one job at a time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from redis import Redis
from rich.console import Console
from rich.table import Table
from rq import SimpleWorker
from rq.serializers import JSONSerializer

REPO = Path(__file__).resolve().parents[1]
DIALOGSUM = REPO.parent / "shared" / "data" / "dialogsum"


def _settings(model: str, redis_url: str, store_url: str):  # type: ignore[no-untyped-def]
    from config.settings import load_settings, set_active_settings

    settings = load_settings(model=model, redis_url=redis_url, store_url=store_url, max_new_tokens=32)
    set_active_settings(settings)
    return settings


def _enqueue(settings, connection: Redis, count: int) -> None:  # type: ignore[no-untyped-def]
    from bot.queue import SummaryJob, enqueue_summary

    for index in range(count):
        dialogue = f"#Person1#: Can we move meeting {index} to Friday?\n#Person2#: Yes, at ten, room {index}."
        job = SummaryJob(request_id=f"cli:bench-{uuid.uuid4().hex}", platform="cli", dialogue=dialogue)
        enqueue_summary(job, settings, connection)


def _drain(worker, settings, connection: Redis, jobs: int) -> float:  # type: ignore[no-untyped-def]
    _enqueue(settings, connection, jobs)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="Model folder or hub id (default: a tiny random T5).")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=7)
    args = parser.parse_args()

    from bot.queue import summary_queue
    from worker.main import build_worker
    from worker.model.runtime import get_runtime
    from worker.model.tiny import build_tiny_t5

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_t5(Path(tmp) / "tiny", dialogsum_dir=DIALOGSUM))
        settings = _settings(model, f"redis://127.0.0.1:6379/{args.redis_db}", f"sqlite:///{tmp}/bench.db")
        connection = Redis.from_url(settings.redis_url)
        connection.flushdb()
        get_runtime(settings).warmup()
        queue = summary_queue(settings, connection)
        plain = batched = float("inf")
        for _ in range(args.rounds):  # alternate, so both see the same machine load
            simple = SimpleWorker([queue], connection=connection, serializer=JSONSerializer)
            plain = min(plain, _drain(simple, settings, connection, args.jobs))
            batched = min(batched, _drain(build_worker(settings, connection), settings, connection, args.jobs))
        connection.flushdb()

    table = Table(title=f"{args.jobs} jobs, best of {args.rounds} rounds, batch size {settings.batch_size}")
    for column in ("worker", "seconds", "jobs/s", "speed-up"):
        table.add_column(column)
    table.add_row("SimpleWorker (one at a time)", f"{plain:.2f}", f"{args.jobs / plain:.1f}", "1.00×")
    table.add_row("BatchingWorker", f"{batched:.2f}", f"{args.jobs / batched:.1f}", f"{plain / batched:.2f}×")
    Console().print(table)


if __name__ == "__main__":
    main()
