"""Which backend serves the model: ``RECAP_BACKEND`` (auto, transformers, ctranslate2), the compute
type and the CPU threads, decided once at start-up and said in the log and in ``recap doctor``.

``auto`` uses CTranslate2 when it imports and the model converts, and otherwise falls back to
transformers with a warning that says why. ``ctranslate2`` fails with a message naming the setting.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from worker.model.loading import ModelLoadError

if TYPE_CHECKING:
    from config.settings import Settings
    from worker.model.base import SummarizerBackend

log = logging.getLogger("worker.model.backend")
BACKEND_SETTING = "RECAP_BACKEND"
COMPUTE_SETTING = "RECAP_COMPUTE_TYPE"
TORCH_TYPES = {"float32", "bfloat16"}
_last_choice: dict[str, str] = {}  # "reason": why the loaded runtime has the backend it has


class BackendUnavailableError(ModelLoadError):
    """CTranslate2 cannot serve this model here (not installed, conversion failed, compute type unsupported)."""


def cpu_threads(settings: Settings) -> int:
    """RECAP_CPU_THREADS, else the cores this process may run on (containers and taskset included)."""
    if settings.cpu_threads:
        return settings.cpu_threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def import_ctranslate2() -> Any:
    try:
        import ctranslate2
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the ctranslate2 package cannot be imported ({exc}). Install it (`pip install ctranslate2`, "
            f"part of Recap's dependencies) or set {BACKEND_SETTING}=transformers"
        ) from None
    return ctranslate2


def ct2_device(ctranslate2: Any, device: str) -> str:
    cuda = ctranslate2.get_cuda_device_count() > 0
    if device == "cuda" and not cuda:
        raise ModelLoadError("RECAP_DEVICE (--device) = 'cuda', but CTranslate2 sees no CUDA device; use auto or cpu")
    return "cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu"


def ct2_compute_type(ctranslate2: Any, requested: str, device: str) -> str:
    """auto: int8 on CPU, int8_bfloat16 (else int8_float32) on CUDA. Never float16: T5 overflows in it."""
    supported = set(ctranslate2.get_supported_compute_types(device))
    if requested == "auto":
        return "int8" if device == "cpu" else ("int8_bfloat16" if "int8_bfloat16" in supported else "int8_float32")
    if requested not in supported:
        raise BackendUnavailableError(
            f"{COMPUTE_SETTING}={requested} is not supported by CTranslate2 on {device} here "
            f"(supported: {', '.join(sorted(t for t in supported if 'float16' not in t or 'bfloat16' in t))})"
        )
    return requested


def _ctranslate2(settings: Settings) -> SummarizerBackend:
    from worker.model.conversion import ConversionError
    from worker.model.ct2_runtime import Ct2Runtime

    ctranslate2 = import_ctranslate2()
    device = ct2_device(ctranslate2, settings.device)
    compute_type = ct2_compute_type(ctranslate2, settings.compute_type, device)
    try:
        return Ct2Runtime.from_settings(settings, device, compute_type)
    except ConversionError as exc:
        raise BackendUnavailableError(str(exc)) from exc


def _transformers(settings: Settings, *, fallback: bool) -> SummarizerBackend:
    from worker.model.runtime import TransformersRuntime

    requested = settings.compute_type
    if requested not in TORCH_TYPES | {"auto"}:
        if not fallback:
            raise ModelLoadError(
                f"{COMPUTE_SETTING}={requested} needs {BACKEND_SETTING}=ctranslate2 (or auto); "
                "the transformers backend runs float32 or bfloat16"
            )
        log.warning("%s=%s is for CTranslate2; the transformers backend uses its default", COMPUTE_SETTING, requested)
        requested = "auto"
    return TransformersRuntime.from_settings(settings, dtype=None if requested == "auto" else requested)


def build_runtime(settings: Settings) -> SummarizerBackend:
    """Load the runtime ``RECAP_BACKEND`` asks for; under auto, fall back to transformers with a warning."""
    choice = settings.backend
    if choice == "transformers":
        runtime, reason = _transformers(settings, fallback=False), f"{BACKEND_SETTING}=transformers"
    elif choice == "ctranslate2":
        try:
            runtime, reason = _ctranslate2(settings), f"{BACKEND_SETTING}=ctranslate2"
        except BackendUnavailableError as exc:
            raise BackendUnavailableError(f"{BACKEND_SETTING}=ctranslate2: {exc}") from exc.__cause__
    else:
        try:
            runtime, reason = _ctranslate2(settings), f"{BACKEND_SETTING}=auto: CTranslate2 is installed"
        except BackendUnavailableError as exc:
            log.warning("%s=auto: not using CTranslate2: %s; falling back to transformers", BACKEND_SETTING, exc)
            runtime = _transformers(settings, fallback=True)
            reason = f"{BACKEND_SETTING}=auto fell back to transformers: {exc}"
    _last_choice["reason"] = reason
    log.info("backend %s, compute type %s, %d CPU threads (%s)",
             runtime.backend_name, runtime.compute_type, cpu_threads(settings), reason)
    return runtime


def describe_backend(settings: Settings) -> str:
    """One line for `recap doctor`: the loaded backend, or the one a worker would choose and why."""
    from worker.model.runtime import cached_runtime

    threads = cpu_threads(settings)
    runtime = cached_runtime(settings)
    if runtime is not None:
        where = getattr(runtime, "model_path", None)
        cached = f", converted model at {where}" if where else ""
        return (f"{runtime.backend_name} {runtime.compute_type}, {threads} CPU threads{cached} "
                f"({_last_choice.get('reason', BACKEND_SETTING + '=' + settings.backend)})")
    if settings.backend == "transformers":
        return f"transformers, {threads} CPU threads ({BACKEND_SETTING}=transformers)"
    return _planned_ct2(settings, threads)


def _planned_ct2(settings: Settings, threads: int) -> str:
    from worker.model.conversion import cached_path, is_converted

    try:
        ctranslate2 = import_ctranslate2()
    except BackendUnavailableError as exc:
        if settings.backend == "ctranslate2":
            raise BackendUnavailableError(f"{BACKEND_SETTING}=ctranslate2: {exc}") from None
        return f"transformers, {threads} CPU threads ({BACKEND_SETTING}=auto fell back: {exc})"
    device = ct2_device(ctranslate2, settings.device)
    compute_type = ct2_compute_type(ctranslate2, settings.compute_type, device)
    folder = cached_path(settings.model, settings.adapter, compute_type, settings.cache_dir)
    state = f"converted model cached at {folder}" if is_converted(folder) else f"converts once on start into {folder}"
    return (f"ctranslate2 {ctranslate2.__version__} {compute_type} on {device}, {threads} CPU threads, {state} "
            f"({BACKEND_SETTING}={settings.backend})")
