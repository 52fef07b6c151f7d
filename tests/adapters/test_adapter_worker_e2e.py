"""End to end through the real RQ worker: each workspace served by its own adapter, one batch per adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from adapter_helpers import make_job
from redis import Redis

from bot.adapters.experiments import Experiments
from bot.adapters.gate import GateResult
from bot.adapters.registry import Registry, Scope
from bot.adapters.routing import route_job
from bot.queue import enqueue_summary
from bot.store import store_for
from config.settings import Settings
from worker import adapter_jobs
from worker.main import build_worker
from worker.model.generation import GenerationSettings
from worker.model.runtime import TransformersRuntime

pytestmark = pytest.mark.slow


def test_a_burst_worker_serves_each_workspace_with_its_adapter(
    settings: Settings, redis_conn: Redis, tiny_adapter: Path, second_adapter: Path, short_dialogues: list[str],
) -> None:
    adapter_jobs.clear_pools()
    store = store_for(settings)
    registry = Registry(store)
    registry.add("team-a", str(tiny_adapter), settings.model, gate=GateResult("rougeL", 0.40))
    registry.add("team-b", str(second_adapter), settings.model, gate=GateResult("rougeL", 0.41))
    registry.promote("team-a")
    registry.promote("team-b", Scope("playground", "T2"))
    jobs = [make_job(i, d, workspace="T2" if i % 2 else "T1", platform="playground")
            for i, d in enumerate(short_dialogues)]
    for job in jobs:
        enqueue_summary(route_job(job, store), settings, redis_conn)

    build_worker(settings, redis_conn).work(burst=True)

    # The first job's turn summarized all four waiting ones: one generate batch per adapter.
    assert sorted(adapter_jobs.pool_for(settings).batch_log) == [("team-a", 2), ("team-b", 2)]

    generation = GenerationSettings.from_settings(settings)
    expected = {
        name: TransformersRuntime(settings.model, str(folder), generation=generation).summarize_batch(short_dialogues)
        for name, folder in (("team-a", tiny_adapter), ("team-b", second_adapter))
    }
    for index, job in enumerate(jobs):
        row = store.get_summary_by_request(job.request_id)
        name = "team-b" if index % 2 else "team-a"
        assert row is not None and row.text == expected[name][index] and row.delivered_at is not None
        assert Experiments(store).route_of(job.request_id).served_by == name  # type: ignore[union-attr]
    adapter_jobs.clear_pools()
