"""The model runtime: base model + optional LoRA adapter, batched generation, long-input map-reduce.

The worker loads one runtime per process (``get_runtime``) and keeps it for its lifetime.
Nothing here logs dialogue or summary text: only counts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from worker.model.generation import GenerationSettings
from worker.model.loading import (
    ADAPTER_SETTING,
    MODEL_SETTING,
    ModelLoadError,
    load_pretrained,
    looks_local,
    resolve_device,
)
from worker.model.longinput import map_reduce
from worker.model.prompt import DEFAULT_PROMPT, PromptTemplate, load_prompt

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


class InputTooLongError(ValueError):
    """generate() was given a prompt longer than the window; it never truncates silently."""


@dataclass
class SummaryOutput:
    text: str
    input_tokens: int  # the full prompt, template included
    output_tokens: int
    parts: int  # leaf parts: 1 unless the dialogue was map-reduced
    model_calls: int  # generate() batches used for this dialogue (shared by a batch of short ones)


@runtime_checkable
class SummarizerBackend(Protocol):
    """What the worker needs from a model backend, so a faster one can sit beside this one."""

    model_id: str
    adapter: str | None
    prompt: PromptTemplate
    generation: GenerationSettings

    def summarize_detailed(self, dialogues: Sequence[str]) -> list[SummaryOutput]: ...

    def summarize_batch(self, dialogues: Sequence[str]) -> list[str]: ...


def _pick_prompt(prompt: PromptTemplate | None, model: str, adapter: str | None) -> PromptTemplate:
    """Explicit prompt, else the adapter's prompt.json, else the model folder's, else the default."""
    if prompt is not None:
        return prompt
    for folder in (adapter, model):
        if folder and looks_local(folder):
            saved = load_prompt(Path(folder).expanduser())
            if saved is not None:
                return saved
    return DEFAULT_PROMPT


class TransformersRuntime:
    """Flan-T5 (or any seq2seq model) with an optional LoRA adapter merged in, for inference."""

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
    ) -> None:
        if batch_size < 1 or max_input_tokens < 8:
            raise ValueError(f"batch_size must be >= 1 and max_input_tokens >= 8, got {batch_size}, {max_input_tokens}")
        self.model_id, self.adapter = str(model), (str(adapter) if adapter else None)
        self.generation, self.batch_size, self.max_input_tokens = generation, batch_size, max_input_tokens
        self.device, self.dtype = resolve_device(device, dtype)
        self.prompt = _pick_prompt(prompt, self.model_id, self.adapter)
        self.model_calls = 0
        self.last_batch_lengths: list[int] = []  # token lengths of the last batch, before padding
        self.last_batch_padded = 0  # width of the last padded batch
        self._lock = threading.RLock()
        self.tokenizer, self.model = self._load(cache_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersRuntime:
        return cls(
            settings.model,
            settings.adapter,
            device=settings.device,
            max_input_tokens=settings.max_input_tokens,
            generation=GenerationSettings.from_settings(settings, settings.adapter or settings.model),
            batch_size=settings.batch_size,
            cache_dir=settings.cache_dir,
        )

    def _load(self, cache_dir: str | None) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        extra = {"cache_dir": cache_dir} if cache_dir else {}
        tokenizer = load_pretrained(AutoTokenizer.from_pretrained, self.model_id, MODEL_SETTING, "config.json", **extra)
        model = load_pretrained(
            AutoModelForSeq2SeqLM.from_pretrained,
            self.model_id,
            MODEL_SETTING,
            "config.json",
            dtype=self.dtype,
            **extra,
        )
        if self.adapter:
            from peft import PeftModel

            def load_adapter(source: str, **kwargs: Any) -> Any:
                return PeftModel.from_pretrained(model, source, **kwargs)

            peft_model = load_pretrained(load_adapter, self.adapter, ADAPTER_SETTING, "adapter_config.json", **extra)
            model = peft_model.merge_and_unload()  # plain weights: no LoRA overhead per token
        if model.dtype == torch.float16:
            raise ValueError("refusing to run T5 in float16 (it overflows); use bfloat16 or float32")
        model.to(self.device).eval()
        log.info(
            "loaded model=%s adapter=%s device=%s dtype=%s prompt=%s",
            self.model_id,
            self.adapter,
            self.device,
            self.dtype,
            self.prompt.version,
        )
        return tokenizer, model

    # -- tokens -------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, special tokens included."""
        return len(self.tokenizer(text, verbose=False)["input_ids"])

    def fits(self, dialogue: str) -> bool:
        """Whether ``dialogue`` fits the window with the prompt template around it."""
        return self.count_tokens(self.prompt.render(dialogue)) <= self.max_input_tokens

    # -- generation ---------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str]) -> list[str]:
        """Generate for full prompts, one padded batch per ``batch_size`` prompts (each counts a call)."""
        if not prompts:
            return []
        ids = self.tokenizer(list(prompts), verbose=False)["input_ids"]
        longest = max(len(row) for row in ids)
        if longest > self.max_input_tokens:
            raise InputTooLongError(
                f"a prompt has {longest} tokens, more than max_input_tokens={self.max_input_tokens}; "
                "use summarize_detailed, which splits long dialogues instead of cutting them"
            )
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths: less padding
        results = [""] * len(ids)
        chunks = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        with self._lock:
            for chunk in _progress(chunks, "Summarizing"):
                for index, text in zip(chunk, self._generate_batch([ids[i] for i in chunk]), strict=True):
                    results[index] = text
        return results

    def _generate_batch(self, batch_ids: list[list[int]]) -> list[str]:
        import torch

        batch = self.tokenizer.pad({"input_ids": batch_ids}, padding=True, return_tensors="pt").to(self.device)
        self.last_batch_lengths = [len(row) for row in batch_ids]
        self.last_batch_padded = int(batch["input_ids"].shape[1])
        with torch.inference_mode():
            output = self.model.generate(**batch, **self.generation.generate_kwargs())
        self.model_calls += 1
        return [text.strip() for text in self.tokenizer.batch_decode(output, skip_special_tokens=True)]

    def warmup(self) -> None:
        """One tiny generate, so the first real request does not pay for lazy initialisation."""
        self.generate([self.prompt.render("#Person1#: Hello.\n#Person2#: Hi.")])

    # -- summaries ----------------------------------------------------------------------------------
    def _summarize_texts(self, texts: list[str]) -> tuple[list[str], int]:
        before = self.model_calls
        summaries = self.generate([self.prompt.render(text) for text in texts])
        return summaries, self.model_calls - before

    def summarize_detailed(self, dialogues: Sequence[str]) -> list[SummaryOutput]:
        """Short dialogues share as few generate() calls as possible; long ones are map-reduced."""
        dialogues = list(dialogues)
        with self._lock:
            counts = [self.count_tokens(self.prompt.render(d)) for d in dialogues]
            short = [i for i, n in enumerate(counts) if n <= self.max_input_tokens]
            outputs: dict[int, SummaryOutput] = {}
            if short:
                texts, calls = self._summarize_texts([dialogues[i] for i in short])
                for index, text in zip(short, texts, strict=True):
                    outputs[index] = SummaryOutput(text, counts[index], self._output_tokens(text), 1, calls)
            for index in (i for i in range(len(dialogues)) if i not in outputs):
                result = map_reduce(dialogues[index], self._summarize_texts, self.fits)
                outputs[index] = SummaryOutput(
                    result.text,
                    counts[index],
                    self._output_tokens(result.text),
                    result.parts,
                    result.model_calls,
                )
        log.debug("summarized %d dialogues (%d long)", len(dialogues), len(dialogues) - len(short))
        return [outputs[i] for i in range(len(dialogues))]

    def summarize_batch(self, dialogues: Sequence[str]) -> list[str]:
        return [output.text for output in self.summarize_detailed(dialogues)]

    def _output_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _progress(items: list[Any], description: str) -> Any:
    """A progress bar on a terminal when there is more than one batch; silent otherwise."""
    if len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, unit="batch", leave=False, disable=None)


_cache: dict[tuple[Any, ...], TransformersRuntime] = {}
_cache_lock = threading.Lock()


def get_runtime(settings: Settings | None = None) -> TransformersRuntime:
    """The process-wide runtime for these settings; loads the model once, replaces it if they change."""
    if settings is None:
        from config.settings import active_settings

        settings = active_settings()
    generation = GenerationSettings.from_settings(settings, settings.adapter or settings.model)
    key = (
        settings.model,
        settings.adapter,
        settings.device,
        settings.max_input_tokens,
        generation,
        settings.batch_size,
        settings.cache_dir,
    )
    with _cache_lock:
        if key not in _cache:
            _cache.clear()  # one model per worker process: free the old one before loading another
            _cache[key] = TransformersRuntime.from_settings(settings)
        return _cache[key]


def clear_runtime_cache() -> None:
    with _cache_lock:
        _cache.clear()
