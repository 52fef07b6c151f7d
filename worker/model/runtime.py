"""The model runtime: base model + optional LoRA adapter, batched generation, long-input map-reduce.

The worker loads one runtime per process (``get_runtime``) and keeps it for its lifetime: the
transformers backend here, or the CTranslate2 one (``worker.model.ct2_runtime``), as
``RECAP_BACKEND`` picks (``worker.model.backend``). Nothing here logs dialogue or summary text.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from worker.model.base import (
    InputTooLongError,
    RuntimeBase,
    SummarizerBackend,
    SummaryOutput,
)
from worker.model.generation import GenerationSettings
from worker.model.loading import (
    ADAPTER_SETTING,
    MODEL_SETTING,
    ModelLoadError,
    load_pretrained,
    resolve_device,
)
from worker.model.prompt import PromptTemplate

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "GenerationSettings",
    "InputTooLongError",
    "ModelLoadError",
    "SummarizerBackend",
    "SummaryOutput",
    "TransformersRuntime",
    "clear_runtime_cache",
    "get_runtime",
]
log = logging.getLogger(__name__)


class TransformersRuntime(RuntimeBase):
    """Flan-T5 (or any seq2seq model) with an optional LoRA adapter merged in, for inference."""

    backend_name = "transformers"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        device: str = "auto",
        max_input_tokens: int = 512,
        generation: GenerationSettings = GenerationSettings(),
        batch_size: int = 8,
        prompt: PromptTemplate | None = None,
        cache_dir: str | None = None,
        dtype: Any = None,
        batch_tokens: int | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        self._init_common(model, adapter, generation, batch_size, batch_tokens, max_input_tokens, prompt)
        self.device, self.dtype = resolve_device(device, dtype)
        self.compute_type = str(self.dtype).removeprefix("torch.")
        if cpu_threads:
            import torch

            torch.set_num_threads(cpu_threads)
        self.tokenizer, self.model = self._load(cache_dir)

    @classmethod
    def from_settings(cls, settings: Settings, dtype: Any = None) -> TransformersRuntime:
        from worker.model.backend import cpu_threads

        return cls(
            settings.model,
            settings.adapter,
            device=settings.device,
            max_input_tokens=settings.max_input_tokens,
            generation=GenerationSettings.from_settings(settings, settings.adapter or settings.model),
            batch_size=settings.batch_size,
            cache_dir=settings.cache_dir,
            dtype=dtype,
            batch_tokens=settings.batch_tokens,
            cpu_threads=cpu_threads(settings),
        )

    def _load(self, cache_dir: str | None) -> tuple[Any, Any]:
        import torch
        from transformers import AutoTokenizer

        extra = {"cache_dir": cache_dir} if cache_dir else {}
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, self.model_id, MODEL_SETTING, "config.json", **extra)
        model = load_merged_model(self.model_id, self.adapter, self.dtype, cache_dir)
        if model.dtype == torch.float16:
            raise ValueError("refusing to run T5 in float16 (it overflows); use bfloat16 or float32")
        model.to(self.device).eval()
        log.info(
            "loaded model=%s adapter=%s backend=transformers device=%s dtype=%s prompt=%s",
            self.model_id,
            self.adapter,
            self.device,
            self.dtype,
            self.prompt.version,
        )
        return tokenizer, model

    def _generate_ids(self, batch_ids: list[list[int]]) -> list[list[int]]:
        import torch

        batch = self.tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            output = self.model.generate(**batch, **self.generation.generate_kwargs())
        return [_new_tokens(row, self.model.generation_config) for row in output.tolist()]


def _new_tokens(row: list[int], config: Any) -> list[int]:
    """Drop the decoder start token, then cut at the first EOS (padding follows it in a batch)."""
    start = config.decoder_start_token_id
    row = row[1:] if row and row[0] == start else row
    eos = config.eos_token_id
    ends = set(eos) if isinstance(eos, list) else {eos}
    for position, token in enumerate(row):
        if token in ends:
            return row[:position]
    return row


def load_merged_model(model_id: str, adapter: str | None, dtype: Any, cache_dir: str | None) -> Any:
    """The base model with the LoRA adapter (if any) merged in: plain weights, no LoRA cost per token."""
    from transformers import AutoModelForSeq2SeqLM

    extra = {"cache_dir": cache_dir} if cache_dir else {}
    model = load_pretrained(
        AutoModelForSeq2SeqLM.from_pretrained, model_id, MODEL_SETTING, "config.json", dtype=dtype, **extra
    )
    if not adapter:
        return model
    from peft import PeftModel

    def load_adapter(source: str, **kwargs: Any) -> Any:
        return PeftModel.from_pretrained(model, source, **kwargs)

    return load_pretrained(load_adapter, adapter, ADAPTER_SETTING, "adapter_config.json", **extra).merge_and_unload()


_cache: dict[tuple[Any, ...], Any] = {}
_cache_lock = threading.Lock()


def runtime_key(settings: Settings) -> tuple[Any, ...]:
    generation = GenerationSettings.from_settings(settings, settings.adapter or settings.model)
    return (
        settings.model, settings.adapter, settings.device, settings.max_input_tokens, generation,
        settings.batch_size, settings.cache_dir, settings.backend, settings.compute_type,
        settings.cpu_threads, settings.batch_tokens,
    )


def get_runtime(settings: Settings | None = None) -> SummarizerBackend:
    """The process-wide runtime for these settings; loads the model once, replaces it if they change."""
    from worker.model.backend import build_runtime

    if settings is None:
        from config.settings import active_settings

        settings = active_settings()
    key = runtime_key(settings)
    with _cache_lock:
        if key not in _cache:
            _cache.clear()  # one model per worker process: free the old one before loading another
            _cache[key] = build_runtime(settings)
        return _cache[key]


def cached_runtime(settings: Settings) -> SummarizerBackend | None:
    """The runtime already loaded for these settings, without loading one."""
    with _cache_lock:
        return _cache.get(runtime_key(settings))


def clear_runtime_cache() -> None:
    with _cache_lock:
        _cache.clear()
