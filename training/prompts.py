"""Prompt experiments: zero-, one- and few-shot, with the seed notebook's templates.

* zero-shot: the shared default prompt (what the worker serves), built by ``build_prompt``;
* zero-shot-seed: the seed's bare "Dialogue: ... What was going on?" frame, no examples;
* one-shot / few-shot: the seed's in-context frame. Each example dialogue (chosen by id) is followed
  by its summary, then comes the target dialogue with the summary left for the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from training.data import Example
from training.metrics import mean_words, score

SHOT_FRAME = "Dialogue:\n\n{dialogue}\n\nWhat was going on?\n"
DEFAULT_SHOT_IDS = ("train_40", "train_80", "train_120")  # the seed used indices 40, 80 and 120
TEMPLATES = ("zero-shot", "zero-shot-seed", "one-shot", "few-shot")


def shot_block(example: Example) -> str:
    """One in-context example, exactly as the seed wrote it (three newlines after the summary)."""
    return SHOT_FRAME.format(dialogue=example.dialogue) + f"{example.summary}\n\n\n"


def make_prompt(name: str, dialogue: str, shots: Sequence[Example]) -> str:
    from worker.model.prompt import DEFAULT_PROMPT, build_prompt

    if name == "zero-shot":
        return build_prompt(dialogue, DEFAULT_PROMPT)
    if name == "zero-shot-seed":
        return SHOT_FRAME.format(dialogue=dialogue)
    if name == "one-shot":
        chosen = shots[:1]
    elif name == "few-shot":
        chosen = shots
    else:
        raise ValueError(f"unknown template {name!r}; choose from {', '.join(TEMPLATES)}")
    if not chosen:
        raise ValueError(f"{name} needs at least one example id (--shot-ids)")
    return "".join(shot_block(example) for example in chosen) + SHOT_FRAME.format(dialogue=dialogue)


@dataclass(frozen=True)
class TemplateResult:
    name: str
    scores: dict[str, dict[str, float | int]]
    prompts_over_window: int
    mean_prompt_tokens: float
    mean_words: float
    predictions: list[str]

    def summary(self) -> dict[str, Any]:
        return {"template": self.name, **self.scores, "prompts_over_window": self.prompts_over_window,
                "mean_prompt_tokens": self.mean_prompt_tokens, "mean_words": self.mean_words}


def run_templates(targets: Sequence[Example], shots: Sequence[Example], names: Sequence[str], *,
                  generate: Callable[[list[str]], list[str]], count_tokens: Callable[[str], int],
                  window: int, batch_size: int) -> list[TemplateResult]:
    """Generate with each template and score against every reference of each target."""
    shot_ids = {shot.id for shot in shots}
    targets = [t for t in targets if t.id not in shot_ids]  # never score a dialogue the prompt shows
    references = [list(t.all_references) for t in targets]
    results = []
    for name in names:
        prompts = [make_prompt(name, target.dialogue, shots) for target in targets]
        lengths = [count_tokens(prompt) for prompt in prompts]
        outputs: list[str] = []
        for start in range(0, len(prompts), batch_size):
            outputs.extend(text.strip() for text in generate(prompts[start:start + batch_size]))
        results.append(TemplateResult(
            name=name, scores=score(outputs, references),
            prompts_over_window=sum(length > window for length in lengths),
            mean_prompt_tokens=round(sum(lengths) / len(lengths), 1),
            mean_words=round(mean_words(outputs), 2), predictions=outputs,
        ))
    return results


def results_table(results: Sequence[TemplateResult], window: int) -> str:
    """Markdown: one row per template and protocol."""
    lines = [
        "| template | protocol | ROUGE-1 | ROUGE-2 | ROUGE-L | ROUGE-Lsum | BLEU | mean words | "
        f"prompts over {window} tokens |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for key, label in (("protocol_a", "A"), ("protocol_c", "C")):
            s = result.scores[key]
            lines.append(f"| {result.name} | {label} | {s['rouge1']:.2f} | {s['rouge2']:.2f} | {s['rougeL']:.2f} | "
                         f"{s['rougeLsum']:.2f} | {s['bleu']:.2f} | {result.mean_words} | "
                         f"{result.prompts_over_window} |")
    return "\n".join(lines)
