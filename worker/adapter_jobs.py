"""The worker's side of routing: serve summary requests each by its own adapter, batched per adapter.

`serve(jobs, settings)` resolves each job's adapter (the payload's name; version-1 jobs and unknown names
get the default), groups the jobs by adapter, runs loaded adapters first while others load in the
background, and gives every job its own adapter's output. `record(served, store)` stores the summary row
and which adapter served it. `worker.jobs` calls these in place of the single cached runtime.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from bot.adapters.experiments import Experiments
from bot.adapters.holdings import HOLDINGS_PREFIX
from bot.adapters.registry import AdapterRecord, Registry
from bot.queue import SummaryJob, redis_connection
from bot.store import Store, store_for
from worker.jobs import store_summary, summarize_timed
from worker.model.adapter_pool import (
    DEFAULT_ADAPTER,
    AdapterPool,
    AdapterSpec,
    ModelPerAdapterPool,
    PeftAdapterPool,
    group_by_adapter,
    order_groups,
)
from worker.model.generation import GenerationSettings
from worker.model.loading import looks_local
from worker.model.prompt import PromptTemplate, load_prompt
from worker.model.runtime import SummarizerBackend, SummaryOutput, TransformersRuntime

log = logging.getLogger("recap.worker.adapters")


@dataclass
class Served:
    job: SummaryJob
    adapter_name: str
    backend: SummarizerBackend
    output: SummaryOutput
    latency_ms: int  # the whole batch's time, as the single-runtime path records it


# -- specs from the settings and the registry ---------------------------------------------------------
def generation_for(settings: Any, folder: str | None, registered: dict[str, Any] | None) -> GenerationSettings:
    """Registered settings (or the folder's generation.json), except what the operator set explicitly."""
    values = GenerationSettings.from_settings(settings, folder or settings.model).as_dict()
    explicit = settings.model_fields_set
    values.update({key: value for key, value in (registered or {}).items() if key not in explicit})
    return GenerationSettings.from_dict(values)


def _prompt_of(source: str | None, name: str | None = None, template: str | None = None) -> PromptTemplate | None:
    if name and template:
        return PromptTemplate(name, template)
    return load_prompt(source) if source and looks_local(source) else None


def default_spec(settings: Any) -> AdapterSpec:
    """The worker's own RECAP_ADAPTER (or the bare base model): what serves when nothing is registered."""
    return AdapterSpec(DEFAULT_ADAPTER, settings.adapter, _prompt_of(settings.adapter),
                       generation_for(settings, settings.adapter, None))


def spec_of(record: AdapterRecord, settings: Any) -> AdapterSpec:
    return AdapterSpec(record.name, record.source, _prompt_of(record.source, record.prompt_name,
                                                              record.prompt_template),
                       generation_for(settings, record.source, record.generation))


def sync_registry(pool: Any, settings: Any, store: Store) -> str | None:
    """Add every registered, unretired adapter of this base model to the pool; drop retired ones.

    Returns the registry's default adapter name (None when no default is assigned).
    """
    registry = Registry(store)
    serving = {record.name: record for record in registry.all(settings.model, include_retired=False)}
    for record in serving.values():
        pool.add_spec(spec_of(record, settings))
    for name in pool.known():
        if name != DEFAULT_ADAPTER and name not in serving:
            pool.remove_spec(name)
    default = registry.default_name()
    return default if default in serving else None


# -- the pool of this process ----------------------------------------------------------------------------
_pools: dict[tuple[Any, ...], Any] = {}
_pools_lock = threading.Lock()


def build_pool(settings: Any, factory: Any = None, backend_name: str = "transformers") -> AdapterPool:
    """A peft pool on one base model, or, with ``factory`` (one backend per adapter: CTranslate2), a model pool."""
    budget = int(settings.adapter_memory_gb * 1e9)
    specs = [default_spec(settings)]
    if factory is not None:
        return ModelPerAdapterPool(factory, specs, budget, backend_name=backend_name)
    base = TransformersRuntime(
        settings.model, None, device=settings.device, max_input_tokens=settings.max_input_tokens,
        generation=GenerationSettings.from_settings(settings, settings.model), batch_size=settings.batch_size,
        cache_dir=settings.cache_dir,
    )
    return PeftAdapterPool(base, specs, budget)


def ct2_factory(settings: Any) -> Any:
    """One converted CTranslate2 model per adapter (each conversion cached by its adapter's content hash)."""
    from worker.model.backend import build_runtime

    def build(spec: AdapterSpec) -> SummarizerBackend:
        runtime = build_runtime(settings.model_copy(update={"adapter": spec.source, "backend": "ctranslate2"}))
        runtime.generation = spec.generation or runtime.generation  # type: ignore[misc]
        runtime.prompt = spec.prompt or runtime.prompt  # type: ignore[misc]
        return runtime

    return build


def _serving_backend(settings: Any) -> str:
    """The backend this worker's default runtime uses: the pool serves every adapter the same way."""
    from worker.model.runtime import cached_runtime

    runtime = cached_runtime(settings)
    return getattr(runtime, "backend_name", "transformers") if runtime is not None else settings.backend


def pool_for(settings: Any, factory: Any = None) -> AdapterPool:
    """The process-wide pool for this base model (one per worker), built on first use. With CTranslate2
    serving, each adapter gets its own converted model; otherwise one peft model holds them all."""
    backend = "factory" if factory is not None else _serving_backend(settings)
    key = (settings.model, settings.adapter, settings.device, settings.max_input_tokens, settings.batch_size,
           settings.cache_dir, backend)
    with _pools_lock:
        if key not in _pools:
            _pools.clear()
            if factory is None and backend == "ctranslate2":
                _pools[key] = build_pool(settings, ct2_factory(settings), backend_name="ctranslate2")
            else:
                _pools[key] = build_pool(settings, factory)
        return _pools[key]


def clear_pools() -> None:
    with _pools_lock:
        _pools.clear()
        _registered_seen.clear()


# -- serving ---------------------------------------------------------------------------------------
def uses_pool(jobs: list[SummaryJob], settings: Any, store: Store) -> bool:
    """Whether to serve through the pool: a job names an adapter, or adapters are registered for this model.

    With nothing registered, the worker keeps its single merged runtime (`get_runtime`), as before.
    """
    if any(job.adapter not in (None, DEFAULT_ADAPTER) for job in jobs):
        return True  # routed at enqueue: the bot saw registered adapters
    return _registered(settings, store)


REGISTERED_TTL_S = 5.0  # how soon a worker notices the first adapter registered (routed jobs need no lookup)
_registered_seen: dict[tuple[str, str], tuple[float, bool]] = {}


def _registered(settings: Any, store: Store) -> bool:
    """Whether adapters are registered for this base model, looked up at most every few seconds per store:
    the answer is asked for every unrouted job, and is almost always the same."""
    key, now = (store.url, settings.model), time.monotonic()
    seen = _registered_seen.get(key)
    if seen is None or now - seen[0] > REGISTERED_TTL_S:
        seen = (now, bool(Registry(store).all(settings.model, include_retired=False)))
        _registered_seen[key] = seen
    return seen[1]


def resolve_adapter(job: SummaryJob, pool: Any, registry_default: str | None) -> str:
    """The payload's adapter if this worker knows it; else the registry default; else the worker's own."""
    fallback = registry_default or DEFAULT_ADAPTER
    if job.adapter is None or job.adapter == DEFAULT_ADAPTER:
        return fallback
    if job.adapter in pool.known():
        return job.adapter
    log.warning("job %s asks for adapter %s, which this worker does not serve; using %s",
                job.job_id, job.adapter, fallback)
    return fallback


def serve(jobs: list[SummaryJob], settings: Any, pool: Any = None, store: Store | None = None) -> list[Served]:
    """Each job summarized by its own adapter, one group per adapter, in the jobs' order.

    An adapter that fails to load fails only its own jobs: they are left out of the result (each then runs
    alone and fails with its own message). When no group succeeds, the first error is raised.
    """
    pool = pool or pool_for(settings)
    store = store or store_for(settings)
    registry_default = sync_registry(pool, settings, store)
    groups = group_by_adapter(jobs, lambda job: resolve_adapter(job, pool, registry_default))
    served: dict[int, Served] = {}
    errors: list[Exception] = []
    for name, group in order_groups(groups, pool):
        try:
            served.update(_serve_group(pool, name, group))
        except Exception as exc:  # noqa: BLE001 - one broken adapter must not fail the other adapters' jobs
            log.error("adapter %s failed for %d jobs: %s", name, len(group), exc.__class__.__name__)
            errors.append(exc)
    if errors and not served:
        raise errors[0]
    return [served[id(job)] for job in jobs if id(job) in served]


def _serve_group(pool: Any, name: str, group: list[SummaryJob]) -> dict[int, Served]:
    backend = pool.backend(name)
    outputs, latency_ms = summarize_timed(backend, [job.dialogue for job in group])
    log.info("adapter %s: %d summaries in %d ms", name, len(group), latency_ms)
    return {id(job): Served(job, name, backend, output, latency_ms) for job, output in zip(group, outputs, strict=True)}


def record(served: Served, store: Store, **timings: Any) -> int:
    """Store the summary row (idempotent on request_id) and which adapter served it (and its timings)."""
    job, backend, output = served.job, served.backend, served.output
    experiments = Experiments(store)
    route = experiments.route_of(job.request_id)
    summary_id = store_summary(store, job, backend, output, served.latency_ms, adapter_name=served.adapter_name,
                               experiment_arm=route.arm if route else None, **timings)
    experiments.mark_served(job.request_id, served.adapter_name)
    return summary_id


def serve_and_record(jobs: list[SummaryJob], settings: Any, pool: Any = None) -> list[int]:
    store = store_for(settings)
    return [record(item, store) for item in serve(jobs, settings, pool, store)]


# -- what this worker holds, for `recap doctor` ------------------------------------------------------
def publish_holdings(settings: Any, pool: Any, worker_name: str | None = None, connection: Any = None) -> str:
    """Write this worker's adapters to Redis (expiring), where `recap doctor` reads them; returns the key."""
    name = worker_name or f"{socket.gethostname()}:{os.getpid()}"
    key = HOLDINGS_PREFIX + name
    body = {"worker": name, "base_model": settings.model, "backend": pool.backend_name,
            "adapters": pool.holdings(), "at": time.time()}
    (connection or redis_connection(settings)).set(key, json.dumps(body), ex=settings.adapter_status_ttl_s)
    return key


def start_holdings_heartbeat(settings: Any, pool: Any, worker_name: str | None = None) -> threading.Event:
    """Publish this worker's holdings now and every third of their TTL, until the returned event is set."""
    stop = threading.Event()
    interval = max(1.0, settings.adapter_status_ttl_s / 3)

    def beat() -> None:
        while True:
            try:
                publish_holdings(settings, pool, worker_name)
            except Exception:  # noqa: BLE001 - Redis hiccups must not stop the worker; doctor shows it stale
                log.warning("could not publish this worker's adapters", exc_info=True)
            if stop.wait(interval):
                return

    threading.Thread(target=beat, name="adapter-holdings", daemon=True).start()
    return stop
