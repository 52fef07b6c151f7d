"""Evaluation runs and system comparisons, always with context: human agreement, a baseline, lengths."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from itertools import permutations
from pathlib import Path
from typing import Any

from training.data import Example
from training.metrics import PROTOCOL_TEXT, ROUGE_KEYS, mean_words, score
from training.scoring import MetricsError, align

METRIC_KEYS = (*ROUGE_KEYS, "bleu")
METRIC_LABELS = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "rougeLsum": "ROUGE-Lsum",
    "bleu": "BLEU",
}
HUMAN = "human (each annotator vs the other two)"
_TURN = re.compile(r"^(#Person\d+#):\s*", re.MULTILINE)


def generate_predictions(
    runtime: Any,
    examples: Sequence[Example],
    *,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Summaries of ``examples`` through the worker's runtime (same prompt, same long-input handling)."""
    generation = asdict(runtime.generation) if hasattr(runtime.generation, "__dataclass_fields__") else {}
    prompt = getattr(runtime.prompt, "version", str(runtime.prompt))
    rows = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        for example, text in zip(batch, runtime.summarize_batch([e.dialogue for e in batch]), strict=True):
            rows.append(
                {
                    "id": example.id,
                    "prediction": text.strip(),
                    "model": runtime.model_id,
                    "adapter": runtime.adapter,
                    "prompt": prompt,
                    "generation": generation,
                }
            )
        if progress:
            progress(len(batch))
    return rows


def write_jsonl(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def extractive_baseline(dialogue: str, turns: int = 2) -> str:
    """Lead-N: the first N turns, speaker tags kept (DialogSum references name #Person1# the same way)."""
    lines = [line for line in dialogue.splitlines() if line.strip()][:turns]
    return " ".join(_TURN.sub(r"\1 ", line).strip() for line in lines)


def human_agreement(examples: Sequence[Example]) -> dict[str, Any] | None:
    """Each annotator's summary scored against the other annotators'; None without multiple references."""
    predictions, references = [], []
    for example in examples:
        refs = example.all_references
        if len(refs) < 2:
            return None
        for index, ref in enumerate(refs):
            predictions.append(ref)
            references.append([other for j, other in enumerate(refs) if j != index])
    return {
        **score(predictions, references),
        "mean_words": round(mean_words(predictions), 2),
        "kind": "human",
    }


def compare(
    systems: Mapping[str, Mapping[str, str]],
    examples: Sequence[Example],
    *,
    baseline_turns: int = 2,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Score every system on the same ids, plus human agreement, the Lead-N baseline and lengths."""
    if not systems:
        raise MetricsError("nothing to compare: give at least one NAME=PREDICTIONS.jsonl")
    by_id = {example.id: example for example in examples}
    references = {example.id: list(example.all_references) for example in examples}
    ids: list[str] | None = None
    for name, predictions in systems.items():
        try:
            aligned = align(dict(predictions), references, allow_empty=allow_empty, partial=True)
        except MetricsError as exc:
            raise MetricsError(f"{name}: {exc}") from exc
        if ids is not None and set(aligned.ids) != set(ids):
            raise MetricsError(f"{name} predicts a different set of ids than the systems before it")
        ids = aligned.ids
    assert ids is not None
    chosen = [by_id[i] for i in ids]
    refs = [references[i] for i in ids]
    rows: dict[str, dict[str, Any]] = {}
    for name, predictions in systems.items():
        texts = [predictions[i] for i in ids]
        rows[name] = {**score(texts, refs), "mean_words": round(mean_words(texts), 2), "kind": "model"}
    lead = [extractive_baseline(example.dialogue, baseline_turns) for example in chosen]
    rows[f"lead-{baseline_turns} turns (extractive baseline)"] = {
        **score(lead, refs),
        "mean_words": round(mean_words(lead), 2),
        "kind": "baseline",
    }
    human = human_agreement(chosen)
    if human is not None:
        rows[HUMAN] = human
    return {
        "n": len(ids),
        "ids": ids,
        "systems": rows,
        "reference_mean_words": round(mean_words([r for ref_list in refs for r in ref_list]), 2),
        "references_per_dialogue": round(sum(map(len, refs)) / len(refs), 2),
        "improvements": improvements({k: v for k, v in rows.items() if v["kind"] != "human"}),
        "protocols": PROTOCOL_TEXT,
    }


def improvements(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Absolute differences in percentage points, for every ordered pair of systems."""
    out: dict[str, list[dict[str, Any]]] = {}
    for protocol in ("protocol_a", "protocol_c"):
        out[protocol] = [
            {
                "system": a,
                "over": b,
                # + 0.0 turns a rounded -0.0 into 0.0, so equal systems never show "-0.00".
                **{k: round(rows[a][protocol][k] - rows[b][protocol][k], 2) + 0.0 for k in METRIC_KEYS},
            }
            for a, b in permutations(rows, 2)
        ]
    return out


def compare_markdown(result: Mapping[str, Any]) -> str:
    lines = [
        f"Scored on {result['n']} dialogues, {result['references_per_dialogue']} references each; all numbers 0-100.",
        "",
    ]
    for protocol, label in (("protocol_a", "A"), ("protocol_c", "C")):
        lines += [
            f"### Protocol {label}",
            "",
            PROTOCOL_TEXT[label],
            "",
            "| system | " + " | ".join(METRIC_LABELS[k] for k in METRIC_KEYS) + " | mean words |",
            "|---|" + "---|" * (len(METRIC_KEYS) + 1),
        ]
        for name, row in result["systems"].items():
            values = " | ".join(f"{row[protocol][k]:.2f}" for k in METRIC_KEYS)
            lines.append(f"| {name} | {values} | {row['mean_words']:.1f} |")
        lines += [
            "",
            f"Absolute improvement, percentage points (protocol {label}):",
            "",
            "| system | over | " + " | ".join(METRIC_LABELS[k] for k in METRIC_KEYS) + " |",
            "|---|---|" + "---|" * len(METRIC_KEYS),
        ]
        for row in result["improvements"][protocol]:
            lines.append(
                f"| {row['system']} | {row['over']} | " + " | ".join(f"{row[k]:+.2f}" for k in METRIC_KEYS) + " |"
            )
        lines.append("")
    lines.append(
        f"Reference summaries: {result['reference_mean_words']:.1f} words on average. "
        f"The human row scores each annotator against the other two (two references, not three)."
    )
    return "\n".join(lines)
