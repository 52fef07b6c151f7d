"""Scoring prediction files against reference files, with every mismatch reported, never dropped.

Predictions: JSONL, one row per example, ``{"id": ..., "prediction": ...}`` (extra keys are kept as
metadata, e.g. the generation settings). References: DialogSum-style JSONL with ``id`` and
``summaries`` (all annotators) or ``summary``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.metrics import PROTOCOL_TEXT, score


class MetricsError(ValueError):
    """Predictions and references do not line up; the message lists the offending ids."""


@dataclass(frozen=True)
class Aligned:
    ids: list[str]
    predictions: list[str]
    references: list[list[str]]


def _read(path: str | Path, what: str) -> list[dict[str, Any]]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise MetricsError(f"{what} file not found: {path}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise MetricsError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    if not rows:
        raise MetricsError(f"{what} file {path} is empty")
    return rows


def _ids(values: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def read_predictions(path: str | Path) -> dict[str, str]:
    rows = _read(path, "predictions")
    out: dict[str, str] = {}
    no_id = [n for n, row in enumerate(rows, 1) if "id" not in row or "prediction" not in row]
    if no_id:
        raise MetricsError(f"{path}: rows {_ids([str(n) for n in no_id])} lack 'id' or 'prediction'")
    duplicates = []
    for row in rows:
        key = str(row["id"])
        if key in out:
            duplicates.append(key)
        out[key] = str(row["prediction"] or "")
    if duplicates:
        raise MetricsError(f"{path}: duplicate prediction ids: {_ids(duplicates)}")
    return out


def read_references(path: str | Path) -> dict[str, list[str]]:
    """id -> reference summaries; a row with no summary maps to [] so :func:`align` can name it."""
    refs: dict[str, list[str]] = {}
    blanks: list[str] = []
    for number, row in enumerate(_read(path, "references"), start=1):
        if "id" not in row:
            raise MetricsError(f"{path}: row {number} has no 'id'")
        values = row.get("summaries") or ([row["summary"]] if row.get("summary") else [])
        if not isinstance(values, list):
            values = [values]
        # One blank annotator among three must not silently turn the row into a two-reference row:
        # protocol A would average over fewer pairs and C would pick from fewer references.
        if any(not isinstance(v, str) or not v.strip() for v in values):
            blanks.append(str(row["id"]))
        refs[str(row["id"])] = [v for v in values if isinstance(v, str) and v.strip()]
    if blanks:
        raise MetricsError(
            f"{path}: {len(blanks)} reference rows have an empty or non-text entry in 'summaries': {_ids(blanks)}"
        )
    return refs


def align(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    *,
    allow_empty: bool = False,
    partial: bool = False,
) -> Aligned:
    """Predictions and references in one order; raises MetricsError naming every problem found."""
    problems = []
    unknown = [i for i in predictions if i not in references]
    if unknown:
        problems.append(f"{len(unknown)} prediction ids have no reference row: {_ids(unknown)}")
    missing_refs = [i for i in predictions if i in references and not references[i]]
    if missing_refs:
        problems.append(f"{len(missing_refs)} reference rows have no summary: {_ids(missing_refs)}")
    empty = [i for i, text in predictions.items() if not text.strip()]
    if empty and not allow_empty:
        problems.append(f"{len(empty)} predictions are empty: {_ids(empty)} (--allow-empty scores them as empty)")
    unpredicted = [i for i in references if i not in predictions]
    if unpredicted and not partial:
        problems.append(
            f"{len(unpredicted)} references have no prediction: {_ids(unpredicted)} "
            "(--partial scores only the predicted ids)"
        )
    if problems:
        raise MetricsError("; ".join(problems))
    ids = [i for i in references if i in predictions]
    return Aligned(ids, [predictions[i] for i in ids], [references[i] for i in ids])


def score_files(
    predictions: str | Path, references: str | Path, *, allow_empty: bool = False, partial: bool = False
) -> dict[str, dict[str, float | int]]:
    aligned = align(
        read_predictions(predictions), read_references(references), allow_empty=allow_empty, partial=partial
    )
    return score(aligned.predictions, aligned.references)


def format_scores(result: dict[str, dict[str, float | int]]) -> str:
    """A small plain-text table that always names the protocol of each row."""
    lines = [f"{'protocol':<10} {'n':>6} {'ROUGE-1':>8} {'ROUGE-2':>8} {'ROUGE-L':>8} {'ROUGE-Lsum':>10} {'BLEU':>7}"]
    for key, label in (("protocol_a", "A"), ("protocol_c", "C")):
        s = result[key]
        lines.append(
            f"{label:<10} {s['n']:>6} {s['rouge1']:>8.2f} {s['rouge2']:>8.2f} {s['rougeL']:>8.2f} "
            f"{s['rougeLsum']:>10.2f} {s['bleu']:>7.2f}"
        )
    lines += ["", PROTOCOL_TEXT["A"], PROTOCOL_TEXT["C"]]
    return "\n".join(lines)
