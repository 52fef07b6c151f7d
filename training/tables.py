"""Table rows shared by `recap eval compare` and `recap report`: scores with intervals, gains, published rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from training.evaluation import METRIC_KEYS


def cell(value: float, interval: Mapping[str, float] | None, signed: bool = False) -> str:
    fmt = "+.2f" if signed else ".2f"
    if not interval:
        return f"{value:{fmt}}"
    return f"{value:{fmt}} [{interval['low']:{fmt}}, {interval['high']:{fmt}}]"


def system_rows(result: Mapping[str, Any], protocol: str) -> list[list[str]]:
    """One row per system (interval where bootstrapped), then the published reference rows."""
    rows = []
    for name, row in result["systems"].items():
        intervals = row.get("intervals", {}).get(protocol, {})
        rows.append([name, *(cell(row[protocol][k], intervals.get(k)) for k in METRIC_KEYS),
                     f"{row['mean_words']:.1f}"])
    for name, rouge1 in result.get("published", {}).items():
        first = f"{rouge1:.2f}" if protocol == "protocol_a" else "not published"
        rows.append([name, first, *(["-"] * (len(METRIC_KEYS) - 1)), "-"])
    return rows


def gain_rows(result: Mapping[str, Any], protocol: str) -> list[list[str]]:
    return [
        [g["system"], g["over"], *(cell(g[k], g.get("intervals", {}).get(k), signed=True) for k in METRIC_KEYS)]
        for g in result["improvements"][protocol]
    ]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    head = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return head + ["| " + " | ".join(row) + " |" for row in rows]
