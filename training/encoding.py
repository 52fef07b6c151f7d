"""Tokenisation for seq2seq training through the shared prompt function, counting what gets cut."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from training.data import Example


@dataclass(frozen=True)
class TokenStats:
    examples: int
    max_input_tokens: int
    max_target_tokens: int
    truncated_inputs: int
    truncated_targets: int
    mean_input_tokens: float
    mean_target_tokens: float
    longest_input_tokens: int
    longest_target_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def prompts_for(examples: Sequence[Example], template: Any) -> list[str]:
    from worker.model.prompt import build_prompt

    return [build_prompt(example.dialogue, template) for example in examples]


def _parts(tokenizer: Any, template: Any) -> tuple[list[int], list[int]]:
    """Token ids of the template before and after ``{dialogue}`` (the suffix ends with the ``Summary:`` cue
    and the end-of-sequence token)."""
    from worker.model.prompt import PLACEHOLDER

    before, _, after = template.template.partition(PLACEHOLDER)
    prefix = tokenizer(before, add_special_tokens=False, verbose=False)["input_ids"] if before.strip() else []
    suffix = tokenizer(after, verbose=False)["input_ids"]  # special tokens (</s>) come at the end
    return prefix, suffix


def cut_dialogue(dialogue: str, tokenizer: Any, template: Any, max_input_tokens: int) -> list[int]:
    """The prompt's ids with the dialogue's tail cut so the whole fits ``max_input_tokens``: the instruction
    and the ``Summary:`` cue are always kept (plain truncation would cut the cue and teach the model to
    summarize without it)."""
    prefix, suffix = _parts(tokenizer, template)
    budget = max_input_tokens - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(f"max_input_tokens={max_input_tokens} leaves no room for the dialogue in the prompt")
    body = tokenizer(dialogue, add_special_tokens=False, verbose=False)["input_ids"][:budget]
    return prefix + body + suffix


def encode(
    examples: Sequence[Example],
    tokenizer: Any,
    template: Any,
    *,
    max_input_tokens: int,
    max_target_tokens: int,
) -> tuple[Any, TokenStats]:
    """A ``datasets.Dataset`` of input_ids/attention_mask/labels, and how many rows were truncated."""
    import datasets

    prompts = prompts_for(examples, template)
    targets = [example.summary for example in examples]
    # Tokenise once without truncation to measure, then cut: the stats are what the report shows.
    # verbose=False: this measuring pass is meant to exceed the window; the tokenizer's "will result in
    # indexing errors" warning would be false alarm here, and the cut below is what the model sees.
    full_inputs = tokenizer(prompts, truncation=False, verbose=False)["input_ids"]
    full_targets = tokenizer(text_target=targets, truncation=False, verbose=False)["input_ids"]
    input_ids = [
        ids if len(ids) <= max_input_tokens else cut_dialogue(e.dialogue, tokenizer, template, max_input_tokens)
        for ids, e in zip(full_inputs, examples, strict=True)
    ]
    labels = tokenizer(text_target=targets, truncation=True, max_length=max_target_tokens)["input_ids"]
    input_lengths = [len(ids) for ids in full_inputs]
    target_lengths = [len(ids) for ids in full_targets]
    stats = TokenStats(
        examples=len(examples),
        max_input_tokens=max_input_tokens,
        max_target_tokens=max_target_tokens,
        truncated_inputs=sum(length > max_input_tokens for length in input_lengths),
        truncated_targets=sum(length > max_target_tokens for length in target_lengths),
        mean_input_tokens=round(sum(input_lengths) / max(1, len(input_lengths)), 2),
        mean_target_tokens=round(sum(target_lengths) / max(1, len(target_lengths)), 2),
        longest_input_tokens=max(input_lengths, default=0),
        longest_target_tokens=max(target_lengths, default=0),
    )
    dataset = datasets.Dataset.from_dict(
        {"input_ids": input_ids, "attention_mask": [[1] * len(ids) for ids in input_ids], "labels": labels}
    )
    return dataset, stats
