"""What every model backend shares: token counting, length-sorted batches under a token budget, and
pooled summaries (short dialogues and the map-reduce parts of long ones share the same generate calls).

A backend only loads its model and implements ``_generate_ids`` (token ids in, new token ids out).
Nothing here logs dialogue or summary text: only counts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from worker.model.generation import GenerationSettings
from worker.model.loading import looks_local
from worker.model.longinput import summarize_pooled
from worker.model.prompt import DEFAULT_PROMPT, PromptTemplate, load_prompt

log = logging.getLogger("worker.model.runtime")
DEFAULT_BATCH_TOKENS = 4096
_MEMO_LIMIT = 512


class InputTooLongError(ValueError):
    """generate() was given a prompt longer than the window; it never truncates silently."""


@dataclass
class SummaryOutput:
    text: str
    input_tokens: int  # the full prompt, template included
    output_tokens: int
    parts: int  # leaf parts: 1 unless the dialogue was map-reduced
    model_calls: int  # generate() batches this dialogue took part in (shared with the others in them)


@runtime_checkable
class SummarizerBackend(Protocol):
    """What the worker needs from a model backend, so a faster one can sit beside this one."""

    backend_name: str
    compute_type: str
    model_id: str
    adapter: str | None
    prompt: PromptTemplate
    generation: GenerationSettings

    def summarize_detailed(self, dialogues: Sequence[str]) -> list[SummaryOutput]: ...

    def summarize_batch(self, dialogues: Sequence[str]) -> list[str]: ...

    def warmup(self) -> None: ...


def pick_prompt(prompt: PromptTemplate | None, model: str, adapter: str | None) -> PromptTemplate:
    """Explicit prompt, else the adapter's prompt.json, else the model folder's, else the default."""
    if prompt is not None:
        return prompt
    for folder in (adapter, model):
        if folder and looks_local(folder):
            saved = load_prompt(Path(folder).expanduser())
            if saved is not None:
                return saved
    return DEFAULT_PROMPT


def plan_batches(lengths: Sequence[int], batch_size: int, batch_tokens: int) -> list[list[int]]:
    """Indexes sorted by length, cut into batches of at most ``batch_size`` rows and ``batch_tokens``
    padded input tokens (rows × longest row); a single row is always allowed, however long."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])  # similar lengths: less padding
    batches: list[list[int]] = []
    for index in order:
        current = batches[-1] if batches else None
        # ascending order: the new row is the longest, so it sets the padded width
        if current is not None and len(current) < batch_size and (len(current) + 1) * lengths[index] <= batch_tokens:
            current.append(index)
        else:
            batches.append([index])
    return batches


class RuntimeBase:
    """Shared by TransformersRuntime and Ct2Runtime; subclasses set the attributes and ``_generate_ids``."""

    backend_name = "base"
    compute_type = "float32"
    model_id: str
    adapter: str | None
    prompt: PromptTemplate
    generation: GenerationSettings
    tokenizer: Any

    def _init_common(
        self, model: str, adapter: str | None, generation: GenerationSettings, batch_size: int,
        batch_tokens: int | None, max_input_tokens: int, prompt: PromptTemplate | None,
    ) -> None:
        if batch_size < 1 or max_input_tokens < 8:
            raise ValueError(f"batch_size must be >= 1 and max_input_tokens >= 8, got {batch_size}, {max_input_tokens}")
        self.model_id, self.adapter = str(model), (str(adapter) if adapter else None)
        self.generation, self.batch_size, self.max_input_tokens = generation, batch_size, max_input_tokens
        self.batch_tokens = batch_tokens or DEFAULT_BATCH_TOKENS
        self.prompt = pick_prompt(prompt, self.model_id, self.adapter)
        self.model_calls = 0
        self.last_batch_lengths: list[int] = []  # token lengths of the last batch, before padding
        self.last_batch_padded = 0  # width of the last padded batch
        self._lock = threading.RLock()
        self._memo: dict[str, list[int]] = {}  # prompt -> ids: a dialogue counted for `fits` is not tokenized again

    # -- tokens -------------------------------------------------------------------------------------
    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, tokenized once: the counting pass and generate share them."""
        known = {t: ids for t in texts if (ids := self._memo.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            encoded = self.tokenizer(missing, verbose=False)["input_ids"]
            fresh = dict(zip(missing, (list(row) for row in encoded), strict=True))
            if len(self._memo) + len(fresh) > _MEMO_LIMIT:
                self._memo = {}  # a bound, not an LRU: long-input splitting asks about many one-off texts
            self._memo.update(fresh)
            known.update(fresh)
        return [known[t] for t in texts]

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, special tokens included."""
        return len(self._ids([text])[0])

    def fits(self, dialogue: str) -> bool:
        """Whether ``dialogue`` fits the window with the prompt template around it."""
        return self.count_tokens(self.prompt.render(dialogue)) <= self.max_input_tokens

    def _output_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    # -- generation ---------------------------------------------------------------------------------
    def _generate_ids(self, batch_ids: list[list[int]]) -> list[list[int]]:
        """One generate call: the new tokens of each row, without the start token, EOS or padding."""
        raise NotImplementedError

    def generate_token_ids(self, prompts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """New token ids per prompt and the number of the generate call each prompt went into."""
        if not prompts:
            return [], []
        ids = self._ids(list(prompts))
        longest = max(len(row) for row in ids)
        if longest > self.max_input_tokens:
            raise InputTooLongError(
                f"a prompt has {longest} tokens, more than max_input_tokens={self.max_input_tokens}; "
                "use summarize_detailed, which splits long dialogues instead of cutting them"
            )
        results: list[list[int]] = [[] for _ in ids]
        calls = [0] * len(ids)
        with self._lock:
            for batch in _progress(plan_batches([len(r) for r in ids], self.batch_size, self.batch_tokens)):
                rows = [ids[i] for i in batch]
                self.last_batch_lengths, self.last_batch_padded = [len(r) for r in rows], max(len(r) for r in rows)
                outputs = self._generate_ids(rows)
                self.model_calls += 1
                for index, output in zip(batch, outputs, strict=True):
                    results[index], calls[index] = output, self.model_calls
        return results, calls

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """Generate for full prompts in length-sorted batches (each batch counts one model call)."""
        return self._decode(self.generate_token_ids(prompts)[0])

    def _decode(self, rows: list[list[int]]) -> list[str]:
        return [text.strip() for text in self.tokenizer.batch_decode(rows, skip_special_tokens=True)]

    def warmup(self) -> None:
        """One tiny generate, so the first real request does not pay for lazy initialisation."""
        self.generate([self.prompt.render("#Person1#: Hello.\n#Person2#: Hi.")])

    # -- summaries ----------------------------------------------------------------------------------
    def _summarize_round(self, texts: list[str]) -> tuple[list[str], list[int]]:
        """Summaries of dialogue texts (parts or whole), and the generate call each one went into."""
        rows, calls = self.generate_token_ids([self.prompt.render(text) for text in texts])
        return self._decode(rows), calls

    def _summarize_texts(self, texts: list[str]) -> tuple[list[str], int]:
        summaries, calls = self._summarize_round(texts)
        return summaries, len(set(calls))

    def summarize_detailed(self, dialogues: Sequence[str]) -> list[SummaryOutput]:
        """Every dialogue's summary; short ones and the parts of long ones share length-sorted batches."""
        dialogues = list(dialogues)
        with self._lock:
            counts = [len(row) for row in self._ids([self.prompt.render(d) for d in dialogues])]
            results = summarize_pooled(dialogues, self._summarize_round, self.fits)
            outputs = [
                SummaryOutput(r.text, count, self._output_tokens(r.text), r.parts, r.model_calls)
                for r, count in zip(results, counts, strict=True)
            ]
        log.debug("summarized %d dialogues (%d long)", len(dialogues), sum(o.parts > 1 for o in outputs))
        return outputs

    def summarize_batch(self, dialogues: Sequence[str]) -> list[str]:
        return [output.text for output in self.summarize_detailed(dialogues)]


def _progress(items: list[Any]) -> Any:
    """A progress bar on a terminal when there is more than one batch; silent otherwise."""
    if len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="Summarizing", unit="batch", leave=False, disable=None)
