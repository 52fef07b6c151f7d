"""One worker, several adapters: routing per workspace, batches per adapter, each job its own adapter's output.

Real tiny T5, two real LoRA adapters (peft), real Redis queue and SQLite store; greedy float32 decoding.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from adapter_helpers import make_job
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.adapters.experiments import Experiments
from bot.adapters.gate import GateResult
from bot.adapters.holdings import HOLDINGS_PREFIX, doctor_adapters, holdings_lines
from bot.adapters.registry import Registry, Scope
from bot.adapters.routing import route_job
from bot.queue import SummaryJob, enqueue_summary, summary_queue
from bot.store import store_for
from config.settings import Settings
from worker import adapter_jobs
from worker.model.adapter_pool import ModelPerAdapterPool, merged_runtime_factory, runtime_size_bytes
from worker.model.generation import GenerationSettings
from worker.model.loading import ModelLoadError
from worker.model.runtime import TransformersRuntime

pytestmark = pytest.mark.slow


def alone(settings: Settings, adapter: Path | None, dialogues: list[str]) -> list[str]:
    """What one adapter gives on its own: the single-adapter runtime, LoRA merged, as workers ran before."""
    runtime = TransformersRuntime(settings.model, str(adapter) if adapter else None,
                                  generation=GenerationSettings.from_settings(settings), batch_size=8)
    return runtime.summarize_batch(dialogues)


def register_two(settings: Settings, first: Path, second: Path) -> Registry:
    registry = Registry(store_for(settings))
    registry.add("team-a", str(first), settings.model, gate=GateResult("rougeL", 0.40))
    registry.add("team-b", str(second), settings.model, gate=GateResult("rougeL", 0.41))
    registry.promote("team-a")  # the default
    registry.promote("team-b", Scope("slack", "T2"))
    return registry


@pytest.fixture
def pool_settings(settings: Settings) -> Settings:
    adapter_jobs.clear_pools()
    yield settings
    adapter_jobs.clear_pools()


def queued_requests(settings: Settings, redis_conn: Redis) -> list[SummaryJob]:
    """What a worker reads from the queue: each job's JSON payload."""
    ids = summary_queue(settings, redis_conn).get_job_ids()
    fetched = [Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer) for job_id in ids]
    return [SummaryJob.from_payload(job.args[0]) for job in fetched]


def test_two_workspaces_are_served_by_their_own_adapters(
    pool_settings: Settings, redis_conn: Redis, tiny_adapter: Path, second_adapter: Path,
    short_dialogues: list[str],
) -> None:
    store = store_for(pool_settings)
    register_two(pool_settings, tiny_adapter, second_adapter)
    jobs = [make_job(i, d, workspace="T2" if i % 2 else "T1") for i, d in enumerate(short_dialogues)]
    for job in jobs:
        enqueue_summary(route_job(job, store), pool_settings, redis_conn)
    requests = queued_requests(pool_settings, redis_conn)
    assert [r.adapter for r in requests] == ["team-a", "team-b", "team-a", "team-b"]

    summary_ids = adapter_jobs.serve_and_record(requests, pool_settings)

    expected = {"team-a": alone(pool_settings, tiny_adapter, short_dialogues),
                "team-b": alone(pool_settings, second_adapter, short_dialogues)}
    assert expected["team-a"] != expected["team-b"]  # the adapters really differ
    sources = {"team-a": str(tiny_adapter), "team-b": str(second_adapter)}
    for index, summary_id in enumerate(summary_ids):
        row = store.get_summary(summary_id)
        name = "team-b" if index % 2 else "team-a"
        assert row is not None and row.workspace == ("T2" if index % 2 else "T1")
        assert row.adapter == sources[name]
        assert Experiments(store).route_of(row.request_id).served_by == name  # type: ignore[union-attr]
        assert row.text == expected[name][index]


def test_a_mixed_list_is_batched_per_adapter_and_a_version_1_job_gets_the_default(
    pool_settings: Settings, tiny_adapter: Path, second_adapter: Path, short_dialogues: list[str],
) -> None:
    register_two(pool_settings, tiny_adapter, second_adapter)
    pool = adapter_jobs.pool_for(pool_settings)
    adapter_jobs.sync_registry(pool, pool_settings, store_for(pool_settings))
    for name in ("team-a", "team-b"):  # both loaded, so the order below is the list's
        pool.backend(name)
    version_1 = {k: v for k, v in make_job(9, short_dialogues[3]).to_payload().items() if k != "adapter"}
    version_1["version"] = 1
    jobs = [make_job(0, short_dialogues[0], adapter="team-b"), make_job(1, short_dialogues[1], adapter="team-a"),
            make_job(2, short_dialogues[2], adapter="team-b"), SummaryJob.from_payload(version_1)]
    pool.batch_log.clear()

    served = adapter_jobs.serve(jobs, pool_settings, pool)

    assert pool.batch_log == [("team-b", 2), ("team-a", 2)]  # one generate call per adapter
    assert [item.adapter_name for item in served] == ["team-b", "team-a", "team-b", "team-a"]
    expected = {"team-a": alone(pool_settings, tiny_adapter, short_dialogues),
                "team-b": alone(pool_settings, second_adapter, short_dialogues)}
    for index, item in enumerate(served):
        assert item.output.text == expected[item.adapter_name][index]


def test_a_new_adapter_loads_in_the_background_while_loaded_ones_run(
    pool_settings: Settings, tiny_adapter: Path, second_adapter: Path, short_dialogues: list[str],
) -> None:
    registry = Registry(store_for(pool_settings))
    registry.add("team-a", str(tiny_adapter), pool_settings.model, gate=GateResult("rougeL", 0.40))
    registry.promote("team-a")
    pool = adapter_jobs.pool_for(pool_settings)
    adapter_jobs.serve([make_job(0, short_dialogues[0])], pool_settings, pool)  # team-a loaded
    registry.add("team-b", str(second_adapter), pool_settings.model, gate=GateResult("rougeL", 0.41))
    pool.batch_log.clear()

    served = adapter_jobs.serve([make_job(1, short_dialogues[1], adapter="team-b"),
                                 make_job(2, short_dialogues[2], adapter="team-a")], pool_settings, pool)

    assert pool.batch_log == [("team-a", 1), ("team-b", 1)]  # team-a's job did not wait for team-b's load
    assert [item.adapter_name for item in served] == ["team-b", "team-a"]
    assert served[0].output.text == alone(pool_settings, second_adapter, [short_dialogues[1]])[0]
    held = {entry["adapter"]: entry for entry in pool.holdings()}
    assert held["team-a"]["loaded"] and held["team-b"]["loaded"]


def test_without_a_registry_a_version_1_job_is_served_by_the_workers_own_adapter(
    settings: Settings, tiny_adapter: Path, short_dialogues: list[str],
) -> None:
    own = settings.model_copy(update={"adapter": str(tiny_adapter)})
    adapter_jobs.clear_pools()
    payload = make_job(0, short_dialogues[0]).to_payload()
    payload.pop("adapter")
    payload["version"] = 1
    try:
        served = adapter_jobs.serve([SummaryJob.from_payload(payload)], own)
    finally:
        adapter_jobs.clear_pools()
    assert served[0].adapter_name == "default" and served[0].backend.adapter == str(tiny_adapter)
    assert served[0].output.text == alone(settings, tiny_adapter, [short_dialogues[0]])[0]


def test_one_model_per_adapter_pool_evicts_the_least_recently_used(
    settings: Settings, tiny_adapter: Path, second_adapter: Path, short_dialogues: list[str],
) -> None:
    """The shape the CTranslate2 backend plugs into: one whole model per adapter, within a memory budget."""
    from worker.model.adapter_pool import AdapterSpec

    specs = [AdapterSpec("team-a", str(tiny_adapter)), AdapterSpec("team-b", str(second_adapter))]
    probe = merged_runtime_factory(settings)(specs[0])
    budget = int(runtime_size_bytes(probe) * 1.5)  # room for one model, not two
    pool = ModelPerAdapterPool(merged_runtime_factory(settings), specs, budget)

    first = pool.backend("team-a").summarize_batch(short_dialogues[:1])
    second = pool.backend("team-b").summarize_batch(short_dialogues[:1])

    assert first == alone(settings, tiny_adapter, short_dialogues[:1])
    assert second == alone(settings, second_adapter, short_dialogues[:1])
    assert (pool.is_loaded("team-a"), pool.is_loaded("team-b")) == (False, True)
    assert pool.backend("team-a").summarize_batch(short_dialogues[:1]) == first  # loaded again on use
    assert (pool.is_loaded("team-a"), pool.is_loaded("team-b")) == (True, False)


def test_doctor_lists_what_each_worker_holds(
    pool_settings: Settings, redis_conn: Redis, tiny_adapter: Path, second_adapter: Path,
    short_dialogues: list[str],
) -> None:
    register_two(pool_settings, tiny_adapter, second_adapter)
    pool = adapter_jobs.pool_for(pool_settings)
    adapter_jobs.serve([make_job(0, short_dialogues[0], adapter="team-b")], pool_settings, pool)

    stop = adapter_jobs.start_holdings_heartbeat(pool_settings, pool, "host-1:42")
    try:
        for _ in range(50):
            if redis_conn.exists(HOLDINGS_PREFIX + "host-1:42"):
                break
            time.sleep(0.05)
    finally:
        stop.set()
    lines = holdings_lines(pool_settings, connection=redis_conn)

    assert len(lines) == 1 and lines[0].startswith(f"host-1:42: {pool_settings.model} on transformers")
    assert "team-b (loaded" in lines[0] and "team-a (not loaded)" in lines[0]
    assert 0 < redis_conn.ttl(HOLDINGS_PREFIX + "host-1:42") <= pool_settings.adapter_status_ttl_s
    doctor = doctor_adapters(pool_settings, connection=redis_conn)
    assert doctor.startswith("2 registered (team-a, team-b), default team-a; host-1:42: ")


def test_a_broken_adapter_fails_only_its_own_jobs(
    pool_settings: Settings, tiny_adapter: Path, tmp_path: Path, short_dialogues: list[str],
) -> None:
    registry = Registry(store_for(pool_settings))
    registry.add("team-a", str(tiny_adapter), pool_settings.model, gate=GateResult("rougeL", 0.40))
    registry.promote("team-a")
    registry.add("broken", str(tmp_path / "missing"), pool_settings.model, gate=GateResult("rougeL", 0.41))
    pool = adapter_jobs.pool_for(pool_settings)
    jobs = [make_job(0, short_dialogues[0], adapter="broken"), make_job(1, short_dialogues[1])]

    served = adapter_jobs.serve(jobs, pool_settings, pool)

    assert [item.job.request_id for item in served] == [jobs[1].request_id]
    with pytest.raises(ModelLoadError, match="registered adapter 'broken'.*no such folder"):
        adapter_jobs.serve(jobs[:1], pool_settings, pool)
