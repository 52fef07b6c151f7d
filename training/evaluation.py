"""Evaluation runs and system comparisons, always with context: human agreement, a baseline, lengths."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training import bootstrap
from training.data import Example
from training.metrics import PROTOCOL_TEXT, ROUGE_KEYS, mean_words, score
from training.scoring import MetricsError, align

METRIC_KEYS = (*ROUGE_KEYS, "bleu")
METRIC_LABELS = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "rougeLsum": "ROUGE-Lsum (split sentences)",
    "bleu": "BLEU",
}
HUMAN = "human (each annotator vs the other two)"
# The seed notebook's published ROUGE-1 (protocol A, hub test split, flan-t5-base): read every run against them.
PUBLISHED = {
    "published: seed zero-shot": 23.34,
    "published: seed full fine-tune": 42.16,
    "published: seed LoRA": 40.81,
}
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
                    "backend": getattr(runtime, "backend_name", "transformers"),
                    "compute_type": getattr(runtime, "compute_type", None),
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


def _aligned_ids(systems: Mapping[str, Mapping[str, str]], references: dict[str, list[str]],
                 allow_empty: bool) -> list[str]:
    if not systems:
        raise MetricsError("nothing to compare: give at least one NAME=PREDICTIONS.jsonl")
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
    return ids


def _row(texts: list[str], refs: list[list[str]], kind: str, draws: Any) -> tuple[dict[str, Any], Any]:
    stats = bootstrap.system_stats(texts, refs)
    row = {**score(texts, refs), "mean_words": round(mean_words(texts), 2), "kind": kind,
           "intervals": bootstrap.as_dicts(bootstrap.intervals(stats, draws))}
    return row, stats


def compare(
    systems: Mapping[str, Mapping[str, str]],
    examples: Sequence[Example],
    *,
    baseline_turns: int = 2,
    allow_empty: bool = False,
    samples: int = bootstrap.DEFAULT_SAMPLES,
    seed: int = bootstrap.DEFAULT_SEED,
) -> dict[str, Any]:
    """Score every system on the same ids with 95 % bootstrap intervals, plus human agreement, the Lead-N
    baseline, lengths and each improvement once (later system minus earlier, each model minus Lead-N)."""
    by_id = {example.id: example for example in examples}
    references = {example.id: list(example.all_references) for example in examples}
    ids = _aligned_ids(systems, references, allow_empty)
    chosen = [by_id[i] for i in ids]
    refs = [references[i] for i in ids]
    draws = bootstrap.resamples(len(ids), samples, seed)
    rows: dict[str, dict[str, Any]] = {}
    stats: dict[str, Any] = {}
    for name, predictions in systems.items():
        rows[name], stats[name] = _row([predictions[i] for i in ids], refs, "model", draws)
    lead_name = f"lead-{baseline_turns} turns (extractive baseline)"
    lead = [extractive_baseline(example.dialogue, baseline_turns) for example in chosen]
    rows[lead_name], stats[lead_name] = _row(lead, refs, "baseline", draws)
    human = human_agreement(chosen)
    if human is not None:
        rows[HUMAN] = human
    return {
        "n": len(ids),
        "ids": ids,
        "systems": rows,
        "published": PUBLISHED,
        "reference_mean_words": round(mean_words([r for ref_list in refs for r in ref_list]), 2),
        "references_per_dialogue": round(sum(map(len, refs)) / len(refs), 2),
        "improvements": improvements(stats, list(systems), lead_name, draws),
        "bootstrap": {"samples": samples, "seed": seed, "interval": "95 % percentile, dialogues resampled"},
        "protocols": PROTOCOL_TEXT,
    }


def improvement_pairs(models: Sequence[str], lead: str) -> list[tuple[str, str]]:
    """(candidate, baseline) once per pair: each later model over each earlier one, each model over Lead-N."""
    pairs = [(models[j], models[i]) for i in range(len(models)) for j in range(i + 1, len(models))]
    return pairs + [(model, lead) for model in models]


def improvements(
    stats: Mapping[str, Any], models: Sequence[str], lead: str, draws: Any
) -> dict[str, list[dict[str, Any]]]:
    """Candidate minus baseline in percentage points with paired 95 % intervals, each pair once."""
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in bootstrap.PROTOCOLS}
    for candidate, baseline in improvement_pairs(models, lead):
        diff = bootstrap.paired(stats[candidate], stats[baseline], draws)
        for protocol in bootstrap.PROTOCOLS:
            out[protocol].append(
                {
                    "system": candidate,
                    "over": baseline,
                    # + 0.0 turns a rounded -0.0 into 0.0, so equal systems never show "-0.00".
                    **{k: round(diff[protocol][k].estimate, 2) + 0.0 for k in METRIC_KEYS},
                    "intervals": {k: diff[protocol][k].as_dict() for k in METRIC_KEYS},
                }
            )
    return out


def compare_markdown(result: Mapping[str, Any]) -> str:
    from training.tables import gain_rows, markdown_table, system_rows

    lines = [
        f"Scored on {result['n']} dialogues, {result['references_per_dialogue']} references each; all numbers "
        "0-100, each with its 95 % bootstrap interval [low, high].",
        "",
    ]
    for protocol, label in (("protocol_a", "A"), ("protocol_c", "C")):
        lines += [f"### Protocol {label}", "", PROTOCOL_TEXT[label], ""]
        lines += markdown_table(["system", *(METRIC_LABELS[k] for k in METRIC_KEYS), "mean words"],
                                system_rows(result, protocol))
        lines += ["", f"Improvement, candidate minus baseline, percentage points with paired 95 % interval "
                  f"(protocol {label}):", ""]
        lines += markdown_table(["candidate", "baseline", *(METRIC_LABELS[k] for k in METRIC_KEYS)],
                                gain_rows(result, protocol))
        lines.append("")
    lines.append(
        f"Reference summaries: {result['reference_mean_words']:.1f} words on average. "
        f"The human row scores each annotator against the other two (two references, not three; "
        "no interval: it is context, not a system). "
        "Published rows: the seed notebook's ROUGE-1 (protocol A, flan-t5-base), for reading this run against."
    )
    return "\n".join(lines)
