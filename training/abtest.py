"""Live A/B readout from the feedback: 👍 rate per arm with Wilson intervals, the difference with Newcombe's
interval, latency per arm, significance at the configured level, and the auto-stop rule.

Store-only and torch-free, so the chat admin report (bot side) can call it. Every live vote counts as one
trial (a voter has one live vote per summary); requests without votes count as requests only.
Nothing here names a requester or a voter: arms are aggregates.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from sqlalchemy import select

from bot.adapters.experiments import ARMS, Experiment, Experiments, RequestArm
from bot.store.models import Feedback, Summary

log = logging.getLogger("recap.abtest")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def z_value(confidence: float) -> float:
    """The two-sided normal quantile: 1.95996... for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for a proportion; (0, 1) when there are no trials."""
    if trials == 0:
        return Interval(0.0, 1.0)
    z = z_value(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exactly 0 (and 1) there, without rounding noise
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def newcombe(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, Interval]:
    """p1 - p2 and its interval from the two Wilson intervals (Newcombe 1998, method 10)."""
    p1 = k1 / n1 if n1 else 0.0
    p2 = k2 / n2 if n2 else 0.0
    first, second = wilson(k1, n1, confidence), wilson(k2, n2, confidence)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    high = difference + math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    return difference, Interval(low, high)


def percentile(values: Sequence[int], q: float) -> int | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass(frozen=True)
class ArmStats:
    arm: str
    adapter: str
    requests: int
    votes: int
    up: int
    interval: Interval
    latency_p50_ms: int | None
    latency_p95_ms: int | None

    @property
    def rate(self) -> float | None:
        return self.up / self.votes if self.votes else None


@dataclass(frozen=True)
class Readout:
    name: str
    state: str
    share: float
    confidence: float
    control: ArmStats
    candidate: ArmStats
    difference: float  # candidate rate - control rate
    interval: Interval
    stop_reason: str | None = None

    @property
    def significant(self) -> bool:
        return bool(self.control.votes and self.candidate.votes) and self.interval.excludes_zero()


def _arm_rows(store: Any, name: str) -> dict[str, list[tuple[int | None, int | None]]]:
    """(summary id, latency) of each request of each arm (None where no summary was stored yet)."""
    query = (
        select(RequestArm.arm, Summary.id, Summary.latency_ms)
        .outerjoin(Summary, Summary.request_id == RequestArm.request_id)
        .where(RequestArm.experiment == name)
    )
    rows: dict[str, list[tuple[int | None, int | None]]] = {arm: [] for arm in ARMS}
    with store.session() as session:
        for arm, summary_id, latency in session.execute(query):
            rows.setdefault(arm, []).append((summary_id, latency))
    return rows


def _votes(store: Any, summary_ids: list[int]) -> list[int]:
    if not summary_ids:
        return []
    with store.session() as session:
        return list(session.scalars(select(Feedback.rating).where(Feedback.summary_id.in_(summary_ids))))


def _arm_stats(store: Any, arm: str, adapter: str, rows: list[tuple[int | None, int | None]],
               confidence: float) -> ArmStats:
    ratings = _votes(store, [summary_id for summary_id, _ in rows if summary_id is not None])
    up = sum(1 for rating in ratings if rating > 0)
    latencies = [latency for summary_id, latency in rows if summary_id is not None and latency is not None]
    return ArmStats(arm, adapter, len(rows), len(ratings), up, wilson(up, len(ratings), confidence),
                    percentile(latencies, 0.5), percentile(latencies, 0.95))


def readout(store: Any, experiment: Experiment, confidence: float = 0.95) -> Readout:
    rows = _arm_rows(store, experiment.name)
    control = _arm_stats(store, "control", experiment.control, rows["control"], confidence)
    candidate = _arm_stats(store, "candidate", experiment.candidate, rows["candidate"], confidence)
    difference, interval = newcombe(candidate.up, candidate.votes, control.up, control.votes, confidence)
    return Readout(experiment.name, experiment.state, experiment.share, confidence, control, candidate,
                   difference, interval, experiment.stop_reason)


# -- text -------------------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _ms(value: int | None) -> str:
    return "n/a" if value is None else f"{value} ms"


def arm_line(stats: ArmStats, gate: str | None) -> str:
    rate = _pct(stats.rate)
    interval = f"[{stats.interval.low * 100:.1f}, {stats.interval.high * 100:.1f}]"
    latency = f"latency p50 {_ms(stats.latency_p50_ms)}, p95 {_ms(stats.latency_p95_ms)}"
    offline = f"; offline gate {gate}" if gate else "; no offline gate result"
    return (f"  {stats.arm:<9} {stats.adapter}: {stats.requests} requests, {stats.votes} votes, "
            f"👍 {rate} {interval}, {latency}{offline}")


def readout_lines(result: Readout, gates: dict[str, str | None]) -> list[str]:
    level = f"{result.confidence * 100:g} %"
    state = result.state + (f" ({result.stop_reason})" if result.stop_reason else "")
    verdict = "significant" if result.significant else "not significant"
    return [
        f"A/B experiment {result.name}: {state}; {result.share * 100:g} % of requests to the candidate; "
        f"intervals at {level}",
        arm_line(result.control, gates.get(result.control.adapter)),
        arm_line(result.candidate, gates.get(result.candidate.adapter)),
        f"  difference (candidate - control): {result.difference * 100:+.1f} points "
        f"[{result.interval.low * 100:+.1f}, {result.interval.high * 100:+.1f}]: {verdict} at {level}",
    ]


def _confidence(settings: Any, confidence: float | None) -> float:
    if confidence is not None:
        return confidence
    return float(getattr(settings, "ab_confidence", 0.95)) if settings is not None else 0.95


def ab_report_lines(store: Any, settings: Any = None, *, confidence: float | None = None,
                    names: Sequence[str] | None = None) -> list[str]:
    """The A/B section of `recap report` and the chat admin report: one block per experiment (newest first)."""
    experiments = Experiments(store)
    level = _confidence(settings, confidence)
    lines: list[str] = []
    for row in experiments.all():
        if names is not None and row.name not in names:
            continue
        gates = {name: _gate_text(experiments, name) for name in (row.control, row.candidate)}
        lines += readout_lines(readout(store, row, level), gates)
    return lines or ["No A/B experiments yet (start one with `recap adapters experiment start`)."]


def _gate_text(experiments: Experiments, name: str) -> str | None:
    record = experiments.registry.get(name)
    gate = record.gate_result if record is not None else None
    return gate.describe() if gate is not None else None


# -- auto-stop --------------------------------------------------------------------------------------
def stop_reason(result: Readout, min_votes: int) -> str | None:
    """Why the experiment should stop now: one arm is worse beyond the difference's interval."""
    if min(result.control.votes, result.candidate.votes) < min_votes or not result.interval.excludes_zero():
        return None
    worse, better = (result.candidate, result.control) if result.interval.high < 0 else (
        result.control, result.candidate)
    return (f"auto-stopped: {worse.arm} {worse.adapter} 👍 {_pct(worse.rate)} is below {better.arm} "
            f"{better.adapter} {_pct(better.rate)} beyond the {result.confidence * 100:g} % interval "
            f"[{result.interval.low * 100:+.1f}, {result.interval.high * 100:+.1f}] points")


def auto_stop(store: Any, settings: Any) -> list[str]:
    """Stop every running experiment (with auto_stop on) where one arm is worse beyond its interval.

    Call it after votes are recorded (or on a timer). Returns the stopped names; each stop is logged as a
    warning on `recap.abtest`, the operators' log.
    """
    if not getattr(settings, "ab_auto_stop", True):
        return []
    experiments = Experiments(store)
    stopped = []
    for row in experiments.running():
        if not row.auto_stop:
            continue
        result = readout(store, row, _confidence(settings, None))
        reason = stop_reason(result, int(getattr(settings, "ab_min_votes", 30)))
        if reason is not None:
            experiments.stop(row.name, reason)
            log.warning("experiment %s %s", row.name, reason)
            stopped.append(row.name)
    return stopped


# -- the report's section ---------------------------------------------------------------------------
def _arm_row(name: str, stats: ArmStats, gate: str | None) -> list[str]:
    interval = f"[{stats.interval.low * 100:.1f}, {stats.interval.high * 100:.1f}]"
    return [name, stats.arm, stats.adapter, str(stats.requests), str(stats.votes), _pct(stats.rate), interval,
            _ms(stats.latency_p50_ms), _ms(stats.latency_p95_ms), gate or "none"]


def ab_section(store: Any, settings: Any = None, *, confidence: float | None = None) -> Any:
    """`recap report`'s "A/B experiments" section (a training.report Section: one table, one verdict per line)."""
    from training.report import Section, Table

    experiments = Experiments(store)
    level = _confidence(settings, confidence)
    rows: list[list[str]] = []
    verdicts: list[str] = []
    for row in experiments.all():
        result = readout(store, row, level)
        for stats in (result.control, result.candidate):
            rows.append(_arm_row(row.name, stats, _gate_text(experiments, stats.adapter)))
        verdicts.append(readout_lines(result, {})[-1].strip().replace("difference", f"{row.name}: difference", 1))
    if not rows:
        return Section("A/B experiments", ["No A/B experiments yet."])
    headers = ["experiment", "arm", "adapter", "requests", "votes", "👍 rate", f"{level * 100:g} % interval",
               "latency p50", "latency p95", "offline gate"]
    return Section("A/B experiments", [Table(headers, rows), *verdicts])
