"""Opt-in feedback export: 👍 summaries from workspaces that share dialogue text, as training JSONL.

The store only keeps dialogue text for workspaces whose admins turned sharing on, and
``Store.shared_examples`` re-checks the switch, so turning sharing off stops the export at once.
The rows carry only ``dialogue`` and ``summary``: no platform, workspace or user ids leave the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def export_feedback(store: Any, out: str | Path) -> int:
    """Write one ``{"dialogue", "summary"}`` row per 👍 shared example; returns how many were written."""
    examples = store.shared_examples(rating=1)
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(
                json.dumps({"dialogue": example.dialogue, "summary": example.summary}, ensure_ascii=False) + "\n"
            )
    return len(examples)
