"""The offline gate result kept with each registered adapter, and the rule `promote` applies to it.

`recap eval gate --candidate A --baseline B` scores both on the same test dialogues (paired bootstrap).
Its JSON result is stored at registration in the form below; the reader accepts the common spellings
(`score` or `candidate_score`, `low`/`high` or `ci_low`/`ci_high`, a nested `difference` object).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


class GateFileError(ValueError):
    """A gate result file cannot be read; the message names the file and what is missing."""


@dataclass(frozen=True)
class GateResult:
    metric: str  # e.g. rougeL
    score: float  # the candidate's score on the gate's test dialogues
    baseline: str | None = None  # the adapter (registry name or folder) it was compared with
    baseline_score: float | None = None
    difference: float | None = None  # candidate - baseline
    low: float | None = None  # the difference's interval
    high: float | None = None
    dialogues: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})

    def describe(self) -> str:
        text = f"{self.metric} {self.score:.4f}"
        if self.difference is not None and self.baseline:
            interval = f" [{self.low:+.4f}, {self.high:+.4f}]" if self.low is not None and self.high is not None else ""
            text += f", {self.difference:+.4f}{interval} vs {self.baseline}"
        return text


def _first(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) is not None:
            return data[name]
    return None


def _number(value: Any, what: str, source: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GateFileError(f"{source}: {what} must be a number, got {value!r}")
    return float(value)


def parse_gate(data: Any, source: str = "gate result") -> GateResult:
    """A GateResult from `recap eval gate`'s JSON (or a hand-written one with metric and score)."""
    if not isinstance(data, dict):
        raise GateFileError(f"{source}: expected a JSON object with metric and score")
    difference = data.get("difference")
    nested = difference if isinstance(difference, dict) else {}
    if nested and data.get("protocol") in nested:  # `recap eval gate`: every protocol and metric, pick the deciding one
        chosen = nested[data["protocol"]].get(str(data.get("metric") or "rougeL"), {})
        nested = {"value": chosen.get("estimate"), "low": chosen.get("low"), "high": chosen.get("high")}
    score = _number(_first(data, "score", "candidate_score", "candidate"), "score", source)
    if score is None:
        raise GateFileError(f"{source}: needs the candidate's score (`score` or `candidate_score`)")
    return GateResult(
        metric=str(_first(data, "metric") or "rougeL"),
        score=score,
        baseline=_first(data, "baseline", "baseline_name"),
        baseline_score=_number(_first(data, "baseline_score"), "baseline_score", source),
        difference=_number(nested.get("value") if nested else difference, "difference", source),
        low=_number(_first(nested, "low") if nested else _first(data, "low", "ci_low"), "low", source),
        high=_number(_first(nested, "high") if nested else _first(data, "high", "ci_high"), "high", source),
        dialogues=_first(data, "dialogues", "n"),
    )


def load_gate_file(path: str | Path) -> GateResult:
    file = Path(path)
    if not file.is_file():
        raise GateFileError(f"no gate result file at {path}; write one with `recap eval gate`")
    try:
        return parse_gate(json.loads(file.read_text(encoding="utf-8")), str(path))
    except json.JSONDecodeError as exc:
        raise GateFileError(f"{path} is not JSON: {exc}") from None


def gate_problem(
    name: str, gate: GateResult | None, serving: str | None, serving_gate: GateResult | None
) -> str | None:
    """Why ``name`` must not replace ``serving`` (None: it may). Missing or worse gate results are refused."""
    if gate is None:
        return f"{name!r} has no offline gate result; register it with --gate (from `recap eval gate`)"
    if serving is None:
        return None
    if gate.baseline == serving and gate.difference is not None:
        if gate.difference < 0:
            return f"{name!r} scored worse than {serving!r} in its gate ({gate.describe()})"
        return None
    if serving_gate is None:
        return None  # nothing to compare with: the serving adapter predates the gate
    if serving_gate.metric != gate.metric:
        return f"cannot compare gate results: {name!r} was gated on {gate.metric}, {serving!r} on {serving_gate.metric}"
    if gate.score < serving_gate.score:
        return (f"{name!r} scored worse than {serving!r} offline "
                f"({gate.metric} {gate.score:.4f} < {serving_gate.score:.4f})")
    return None
