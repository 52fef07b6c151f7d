"""One worker, several adapters: a pool that holds them, loads new ones in the background, evicts the least
recently used beyond RECAP_ADAPTER_MEMORY_GB, and gives each a runtime-like view for batches of its own.

Two kinds, one interface (`AdapterPool`):
- `PeftAdapterPool` (transformers): one base model, each adapter a peft LoRA on it (unmerged). A batch
  activates its adapter (`set_adapter`) under the runtime's lock, so each batch runs exactly one adapter;
  the adapter named "default" without a source is the plain base model (`disable_adapter`).
- `ModelPerAdapterPool` (CTranslate2, or anything that serves one merged model per adapter): a factory
  builds a backend per adapter (the ct2 package's converted model), loaded on first use.

Loading never holds the generation lock while reading files: weights are read in a background thread,
and only the final install (a few tensor copies) waits for the batch in progress. Jobs of loaded
adapters keep running meanwhile (`order_groups` runs loaded adapters first).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from worker.model.generation import GenerationSettings
from worker.model.loading import ADAPTER_SETTING, ModelLoadError, load_pretrained
from worker.model.prompt import PromptTemplate
from worker.model.runtime import SummarizerBackend, TransformersRuntime

log = logging.getLogger("recap.worker.adapters")
DEFAULT_ADAPTER = "default"
T = TypeVar("T")


@dataclass(frozen=True)
class AdapterSpec:
    name: str
    source: str | None  # folder or hub id; None: the base model itself
    prompt: PromptTemplate | None = None
    generation: GenerationSettings | None = None


class AdapterPool(Protocol):
    backend_name: str
    batch_log: list[tuple[str, int]]  # (adapter, prompts) of each generate batch, newest last (bounded)

    def known(self) -> list[str]: ...
    def add_spec(self, spec: AdapterSpec) -> None: ...
    def remove_spec(self, name: str) -> None: ...
    def is_loaded(self, name: str) -> bool: ...
    def start_loading(self, name: str) -> Future[Any]: ...
    def backend(self, name: str) -> SummarizerBackend: ...
    def holdings(self) -> list[dict[str, Any]]: ...


def group_by_adapter(requests: Iterable[T], adapter_of: Callable[[T], Hashable]) -> list[tuple[Any, list[T]]]:
    """Requests grouped by adapter, groups in order of first appearance, requests in their own order."""
    groups: dict[Hashable, list[T]] = {}
    for request in requests:
        groups.setdefault(adapter_of(request), []).append(request)
    return list(groups.items())


def order_groups(groups: list[tuple[str, list[T]]], pool: AdapterPool) -> list[tuple[str, list[T]]]:
    """Loaded adapters first; the others start loading now, in the background, and run after."""
    for name, _ in groups:
        if not pool.is_loaded(name):
            pool.start_loading(name)
    return sorted(groups, key=lambda group: not pool.is_loaded(group[0]))


class _PoolBase:
    """Specs, background loading, LRU bookkeeping and the memory budget shared by both kinds."""

    backend_name = "transformers"

    def __init__(self, specs: Iterable[AdapterSpec], budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.batch_log: list[tuple[str, int]] = []
        self._specs: dict[str, AdapterSpec] = {spec.name: spec for spec in specs}
        self._loaded: OrderedDict[str, tuple[SummarizerBackend, int]] = OrderedDict()  # LRU: oldest first
        self._loading: dict[str, Future[Any]] = {}
        self._state = threading.Lock()
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adapter-loader")

    def known(self) -> list[str]:
        return list(self._specs)

    def spec(self, name: str) -> AdapterSpec:
        if name not in self._specs:
            raise ModelLoadError(f"adapter {name!r} is not registered for this worker's base model")
        return self._specs[name]

    def add_spec(self, spec: AdapterSpec) -> None:
        with self._state:
            if self._specs.get(spec.name) != spec:
                self._specs[spec.name] = spec
                self._drop(spec.name)  # a changed registration is loaded again on next use

    def remove_spec(self, name: str) -> None:
        with self._state:
            self._specs.pop(name, None)
            self._drop(name)

    def is_loaded(self, name: str) -> bool:
        with self._state:
            return name in self._loaded

    def start_loading(self, name: str) -> Future[Any]:
        """Load ``name`` on the loader thread (once); the returned future is done when it is loaded."""
        spec = self.spec(name)
        with self._state:
            if name in self._loaded:
                done: Future[Any] = Future()
                done.set_result(None)
                return done
            if name not in self._loading:
                self._loading[name] = self._loader.submit(self._load_and_keep, spec)
            return self._loading[name]

    def _load_and_keep(self, spec: AdapterSpec) -> None:
        started = time.perf_counter()
        try:
            backend, size = self._load(spec)
        finally:
            with self._state:
                self._loading.pop(spec.name, None)
        with self._state:
            self._loaded[spec.name] = (backend, size)
            self._evict_over_budget(keep=spec.name)
        log.info("adapter %s loaded (%.1f MB) in %.1f s", spec.name, size / 1e6, time.perf_counter() - started)

    def backend(self, name: str) -> SummarizerBackend:
        """The adapter's backend, loading it first if needed (waits for that load only)."""
        for _ in range(3):
            self.start_loading(name).result()
            with self._state:
                if name in self._loaded:
                    self._loaded.move_to_end(name)
                    return self._loaded[name][0]
        raise ModelLoadError(f"adapter {name!r} is evicted as soon as it loads; raise RECAP_ADAPTER_MEMORY_GB")

    def _evict_over_budget(self, keep: str) -> None:
        total = sum(size for _, size in self._loaded.values())
        for name in list(self._loaded):
            if total <= self.budget_bytes:
                break
            if name != keep:
                total -= self._loaded[name][1]
                self._drop(name)
                log.info("adapter %s evicted (memory budget %.2f GB)", name, self.budget_bytes / 1e9)
        if total > self.budget_bytes:
            log.warning("adapter %s alone exceeds RECAP_ADAPTER_MEMORY_GB; kept loaded anyway", keep)

    def _drop(self, name: str) -> None:
        if self._loaded.pop(name, None) is not None:
            self._unload(name)

    def holdings(self) -> list[dict[str, Any]]:
        """What this worker holds, for `recap doctor`: every known adapter, loaded or not."""
        with self._state:
            return [
                {"adapter": name, "source": spec.source, "backend": self.backend_name,
                 "loaded": name in self._loaded, "loading": name in self._loading,
                 "mb": round(self._loaded[name][1] / 1e6, 1) if name in self._loaded else None}
                for name, spec in self._specs.items()
            ]

    def _log_batch(self, name: str, size: int) -> None:
        self.batch_log.append((name, size))
        del self.batch_log[:-1000]

    # Kinds implement these two; _load runs on the loader thread.
    def _load(self, spec: AdapterSpec) -> tuple[SummarizerBackend, int]:
        raise NotImplementedError

    def _unload(self, name: str) -> None:
        raise NotImplementedError


class AdapterView(TransformersRuntime):
    """One adapter of a `PeftAdapterPool`: the runtime's whole API, sharing the base model, tokenizer and lock.

    Each generate batch activates this adapter first, under the shared lock, so one batch is one adapter.
    """

    def __init__(self, base: TransformersRuntime, pool: PeftAdapterPool, spec: AdapterSpec) -> None:
        self.__dict__.update({key: value for key, value in base.__dict__.items() if key != "model"})
        self.adapter_name, self.adapter, self._pool = spec.name, spec.source, pool
        self.prompt = spec.prompt or base.prompt
        self.generation = spec.generation or base.generation
        self.model_calls = 0

    @property
    def model(self) -> Any:  # type: ignore[override]
        return self._pool.model

    def _generate_ids(self, batch_ids: list[list[int]]) -> list[list[int]]:
        with self._lock, self._pool.activated(self.adapter_name):
            self._pool._log_batch(self.adapter_name, len(batch_ids))
            return super()._generate_ids(batch_ids)


class PeftAdapterPool(_PoolBase):
    """Several LoRA adapters on one base model (peft multi-adapter); memory counted as LoRA weight bytes."""

    def __init__(self, base: TransformersRuntime, specs: Iterable[AdapterSpec], budget_bytes: int) -> None:
        super().__init__(specs, budget_bytes)
        self.base = base
        self.peft_model: Any = None  # wraps base.model once the first adapter is installed
        self._keys: dict[str, str] = {}  # registry name -> peft adapter name (peft keys cannot hold '.')
        self._counter = 0

    @property
    def model(self) -> Any:
        return self.peft_model if self.peft_model is not None else self.base.model

    @contextlib.contextmanager
    def activated(self, name: str) -> Iterator[None]:
        """Call with the runtime's lock held: this adapter active (or none, for the base model)."""
        if self._specs[name].source is None:
            with self.peft_model.disable_adapter() if self.peft_model is not None else contextlib.nullcontext():
                yield
            return
        self.peft_model.set_adapter(self._keys[name])
        yield

    def _load(self, spec: AdapterSpec) -> tuple[SummarizerBackend, int]:
        if spec.source is None:
            return AdapterView(self.base, self, spec), 0
        try:
            config, weights = self._read(spec.source)  # files: no lock held
        except ModelLoadError as exc:
            raise ModelLoadError(f"registered adapter {spec.name!r}: {exc}") from None
        size = sum(tensor.numel() * tensor.element_size() for tensor in weights.values())
        with self.base._lock:  # waits for the batch in progress, then blocks the others only for the copy
            self._install(spec.name, config, weights)
        return AdapterView(self.base, self, spec), size

    def _read(self, source: str) -> tuple[Any, dict[str, Any]]:
        from peft import PeftConfig, load_peft_weights

        config = load_pretrained(PeftConfig.from_pretrained, source, ADAPTER_SETTING, "adapter_config.json")
        weights = load_pretrained(load_peft_weights, source, ADAPTER_SETTING, "adapter_config.json",
                                  device=str(self.base.device))
        config.inference_mode = True
        return config, weights

    def _install(self, name: str, config: Any, weights: dict[str, Any]) -> None:
        from peft import get_peft_model, set_peft_model_state_dict

        self._counter += 1
        key = f"recap_{self._counter}"
        if self.peft_model is None:
            self.peft_model = get_peft_model(self.base.model, config, adapter_name=key)
        else:
            self.peft_model.add_adapter(key, config)
        set_peft_model_state_dict(self.peft_model, weights, adapter_name=key)
        self.peft_model.to(self.base.device).eval()
        self._keys[name] = key

    def _unload(self, name: str) -> None:
        key = self._keys.pop(name, None)
        if key is not None and self.peft_model is not None:
            with self.base._lock:
                self.peft_model.delete_adapter(key)


def runtime_size_bytes(backend: Any) -> int:
    """Parameter bytes of a transformers backend; a backend may say its own size with `memory_bytes`."""
    if hasattr(backend, "memory_bytes"):
        return int(backend.memory_bytes)
    if getattr(backend, "backend_name", "") == "ctranslate2":  # its weights are the converted files, as loaded
        return sum(path.stat().st_size for path in Path(backend.model_path).rglob("*") if path.is_file())
    return sum(p.numel() * p.element_size() for p in backend.model.parameters())


class ModelPerAdapterPool(_PoolBase):
    """One whole model per adapter (CTranslate2: the merged model converted; or a merged transformers model).

    ``factory(spec)`` builds the backend; ``sizer(backend)`` says its bytes. Backends do not share a lock,
    so loading one never waits for another's batch.
    """

    def __init__(self, factory: Callable[[AdapterSpec], SummarizerBackend], specs: Iterable[AdapterSpec],
                 budget_bytes: int, *, sizer: Callable[[Any], int] = runtime_size_bytes,
                 backend_name: str = "transformers") -> None:
        super().__init__(specs, budget_bytes)
        self.factory, self.sizer, self.backend_name = factory, sizer, backend_name

    def _load(self, spec: AdapterSpec) -> tuple[SummarizerBackend, int]:
        backend = self.factory(spec)
        backend.adapter_name = spec.name  # type: ignore[attr-defined]
        return backend, self.sizer(backend)

    def _unload(self, name: str) -> None:
        pass  # dropping the reference frees it once no batch uses it


def merged_runtime_factory(settings: Any) -> Callable[[AdapterSpec], SummarizerBackend]:
    """A factory of merged transformers runtimes, one per adapter: the shape a CTranslate2 factory takes."""

    def build(spec: AdapterSpec) -> SummarizerBackend:
        return TransformersRuntime(
            settings.model, spec.source, device=settings.device, max_input_tokens=settings.max_input_tokens,
            generation=spec.generation or GenerationSettings.from_settings(settings, spec.source or settings.model),
            batch_size=settings.batch_size, prompt=spec.prompt, cache_dir=settings.cache_dir,
        )

    return build
