"""Opt-in feedback export: 👍 summaries from workspaces that share dialogue text, as training JSONL.

The store only keeps dialogue text for workspaces whose admins turned sharing on, and
``Store.shared_examples`` re-checks the switch, so turning sharing off stops the export at once.
The rows carry only ``dialogue`` and ``summary``: no platform, workspace or user ids leave the store.
Each dialogue is written once (the same conversation summarized twice must not weigh double), and an
export smaller than ``min_rows`` is refused: a handful of rows would only teach the model its own quirks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data import DataError


@dataclass(frozen=True)
class ExportResult:
    written: int
    duplicates: int


def unique_rows(examples: Any) -> tuple[list[dict[str, str]], int]:
    """One ``{"dialogue", "summary"}`` per distinct dialogue (whitespace-normalised), first one kept."""
    seen: set[str] = set()
    rows = []
    for example in examples:
        key = " ".join(example.dialogue.split())
        if key in seen:
            continue
        seen.add(key)
        rows.append({"dialogue": example.dialogue, "summary": example.summary})
    return rows, len(examples) - len(rows)


def export_feedback(store: Any, out: str | Path, *, min_rows: int = 0) -> ExportResult:
    """Write the de-duplicated 👍 shared examples to ``out``; refuses (DataError) below ``min_rows``."""
    examples = store.shared_examples(rating=1)
    rows, duplicates = unique_rows(examples)
    if len(rows) < min_rows:
        raise DataError(
            f"only {len(rows)} distinct opted-in 👍 dialogues (of {len(examples)} rows); at least {min_rows} "
            f"are needed to export, so nothing was written to {out}. Collect more feedback, or lower the "
            "minimum with --min-rows / RECAP_EXPORT_MIN_ROWS."
        )
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return ExportResult(written=len(rows), duplicates=duplicates)
