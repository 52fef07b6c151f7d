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

from training.data import DataError, Example
from training.metrics import mean_words, score

SHOT_FRAME = "Dialogue:\n\n{dialogue}\n\nWhat was going on?\n"
DEFAULT_SHOT_IDS = ("train_40", "train_80", "train_120")  # the seed's indices 40, 80, 120, taken from train
# (the seed took them from test; train keeps the in-context examples out of any scored split)
TEMPLATES = ("zero-shot", "zero-shot-seed", "one-shot", "few-shot")
TRAINING_LENGTH = 512  # Flan-T5 was trained on inputs of up to 512 tokens; longer prompts are out of its habit
# The seed indexed the hub's 1,500-row test split: 500 dialogues x 3 annotators, one dialogue's three rows in
# a row. Hub row i is local test_{i // 3} with annotator i % 3 + 1.
SEED_SHOT_ROWS = (40, 80, 120)
SEED_TARGET_ROW = 200
SEED_TEMPLATES = ("zero-shot-seed", "one-shot", "few-shot")


def hub_test_id(row: int) -> str:
    """The local id with annotator (``test_13#2``) of the hub test split's row ``row``."""
    return f"test_{row // 3}#{row % 3 + 1}"


def seed_ids() -> tuple[list[str], str]:
    """The seed's shots and target as local ids with annotators: test_13#2, test_26#3, test_40#1; test_66#3."""
    return [hub_test_id(row) for row in SEED_SHOT_ROWS], hub_test_id(SEED_TARGET_ROW)


def shot_block(example: Example) -> str:
    """One in-context example, exactly as the seed wrote it (three newlines after the summary)."""
    return SHOT_FRAME.format(dialogue=example.dialogue) + f"{example.summary}\n\n\n"


def check_templates(names: Sequence[str]) -> list[str]:
    """The template names, or a DataError naming the unknown ones and the choices."""
    unknown = [name for name in names if name not in TEMPLATES]
    if unknown or not names:
        raise DataError(
            f"--templates {','.join(names) or '(empty)'}: unknown {', '.join(map(repr, unknown)) or 'none given'}; "
            f"choose from {', '.join(TEMPLATES)}"
        )
    return list(names)


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
        raise DataError(f"unknown template {name!r}; choose from {', '.join(TEMPLATES)}")
    if not chosen:
        raise DataError(f"{name} needs at least one example id (--shot-ids)")
    return "".join(shot_block(example) for example in chosen) + SHOT_FRAME.format(dialogue=dialogue)


@dataclass(frozen=True)
class TemplateResult:
    name: str
    scores: dict[str, dict[str, float | int]]
    mean_prompt_tokens: float
    max_prompt_tokens: int
    mean_words: float
    ids: list[str]
    predictions: list[str]

    def summary(self) -> dict[str, Any]:
        return {
            "template": self.name,
            **self.scores,
            "mean_prompt_tokens": self.mean_prompt_tokens,
            "max_prompt_tokens": self.max_prompt_tokens,
            "past_training_length": self.max_prompt_tokens > TRAINING_LENGTH,
            "mean_words": self.mean_words,
        }


@dataclass(frozen=True)
class PromptRun:
    results: list[TemplateResult]
    skipped_over_window: list[str]  # target ids left out of every template because a prompt was too long
    window: int
    context: dict[str, dict[str, Any]]  # human agreement, extractive baseline, reference length

    def summary(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "skipped_over_window": self.skipped_over_window,
            "templates": [r.summary() for r in self.results],
            "context": self.context,
        }


def _context(targets: Sequence[Example]) -> dict[str, dict[str, Any]]:
    """What every report shows next to model scores, on the same dialogues."""
    from training.evaluation import HUMAN, extractive_baseline, human_agreement

    references = [list(t.all_references) for t in targets]
    lead = [extractive_baseline(t.dialogue) for t in targets]
    context: dict[str, dict[str, Any]] = {
        "lead-2 turns (extractive baseline)": {**score(lead, references), "mean_words": mean_words(lead)},
        "references": {"mean_words": mean_words([r for refs in references for r in refs])},
    }
    human = human_agreement(targets)
    if human is not None:
        context[HUMAN] = human
    return context


def run_templates(
    targets: Sequence[Example],
    shots: Sequence[Example],
    names: Sequence[str],
    *,
    generate: Callable[[list[str]], list[str]],
    count_tokens: Callable[[str], int],
    window: int,
    batch_size: int,
) -> PromptRun:
    """Generate with each template and score against every reference of each target.

    Dialogues shown as examples are never scored. A target whose prompt exceeds the window under any
    template is left out of all templates (so they stay comparable) and listed, never cut.
    """
    shot_ids = {shot.id for shot in shots}
    prompts = {name: [make_prompt(name, t.dialogue, shots) for t in targets] for name in names}
    lengths = {name: [count_tokens(p) for p in values] for name, values in prompts.items()}
    skipped = [t.id for i, t in enumerate(targets) if t.id in shot_ids or any(lengths[n][i] > window for n in names)]
    keep = [i for i, t in enumerate(targets) if t.id not in skipped]
    if not keep:
        longest = max(names, key=lambda n: min(lengths[n]))
        raise DataError(
            f"--max-input-tokens {window}: every dialogue has a prompt longer than that under some template "
            f"(shortest {longest} prompt: {min(lengths[longest])} tokens); raise --max-input-tokens "
            f"or leave {longest} out of --templates"
        )
    references = [list(targets[i].all_references) for i in keep]
    results = []
    for name in names:
        chosen = [prompts[name][i] for i in keep]
        outputs: list[str] = []
        for start in range(0, len(chosen), batch_size):
            outputs.extend(text.strip() for text in generate(chosen[start : start + batch_size]))
        results.append(
            TemplateResult(
                name=name,
                scores=score(outputs, references),
                mean_prompt_tokens=round(sum(lengths[name][i] for i in keep) / len(keep), 1),
                max_prompt_tokens=max(lengths[name][i] for i in keep),
                mean_words=round(mean_words(outputs), 2),
                ids=[targets[i].id for i in keep],
                predictions=outputs,
            )
        )
    kept = [targets[i] for i in keep]
    return PromptRun(results, [s for s in skipped if s not in shot_ids], window, _context(kept))


def _tokens(result: TemplateResult) -> str:
    flag = " (!)" if result.max_prompt_tokens > TRAINING_LENGTH else ""
    return f"{result.mean_prompt_tokens} (max {result.max_prompt_tokens}){flag}"


def results_table(run: PromptRun) -> str:
    """Markdown: one row per template and protocol, then what was left out."""
    lines = [
        "| template | protocol | ROUGE-1 | ROUGE-2 | ROUGE-L | ROUGE-Lsum (split sentences) | BLEU | mean words "
        "| prompt tokens |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in run.results:
        for key, label in (("protocol_a", "A"), ("protocol_c", "C")):
            s = result.scores[key]
            lines.append(
                f"| {result.name} | {label} | {s['rouge1']:.2f} | {s['rouge2']:.2f} | {s['rougeL']:.2f} | "
                f"{s['rougeLsum']:.2f} | {s['bleu']:.2f} | {result.mean_words} | {_tokens(result)} |"
            )
    for name, row in run.context.items():
        if "protocol_a" in row:
            for key, label in (("protocol_a", "A"), ("protocol_c", "C")):
                s = row[key]
                lines.append(
                    f"| {name} | {label} | {s['rouge1']:.2f} | {s['rouge2']:.2f} | {s['rougeL']:.2f} | "
                    f"{s['rougeLsum']:.2f} | {s['bleu']:.2f} | {row['mean_words']:.2f} | - |"
                )
    n = len(run.results[0].ids) if run.results else 0
    lines += [
        "",
        f"{n} dialogues scored against all their references. Protocol A: every (prediction, "
        "reference) pair, averaged over pairs; protocol C: best reference per prediction. "
        f"References average {run.context['references']['mean_words']:.1f} words; the human row scores each "
        "annotator against the other two.",
    ]
    past = [r.name for r in run.results if r.max_prompt_tokens > TRAINING_LENGTH]
    if past:
        lines.append(
            f"Prompts marked (!) are past Flan-T5's {TRAINING_LENGTH}-token training length: {', '.join(past)}. "
            "The model still reads them (relative positions), but it never saw inputs that long in training."
        )
    if run.skipped_over_window:
        lines.append(
            f"Left out of every template, prompt longer than {run.window} tokens: "
            f"{len(run.skipped_over_window)} dialogues ({', '.join(run.skipped_over_window[:10])})."
        )
    return "\n".join(lines)
