"""Live feedback from the store: 👍 rates with Wilson intervals by model, platform and day; latency."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

Z95 = 1.959964


@dataclass(frozen=True)
class Rate:
    group: str
    votes: int
    up: int

    @property
    def rate(self) -> float:
        return self.up / self.votes if self.votes else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.up, self.votes)

    def text(self) -> str:
        low, high = self.interval
        return f"{self.votes} votes, 👍 {self.rate:.0%} (95% CI {low:.0%}-{high:.0%})"


def wilson(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion: sensible at small counts and at 0% or 100%."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def model_label(model: str, adapter: str | None) -> str:
    return f"{model} + {adapter}" if adapter else model


def _rates(pairs: Iterable[tuple[str, int]]) -> list[Rate]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for group, rating in pairs:
        counts[group][0] += 1
        counts[group][1] += rating > 0
    return sorted((Rate(g, n, up) for g, (n, up) in counts.items()), key=lambda r: (-r.votes, r.group))


def feedback_tables(rows: Sequence[tuple[Any, Any]]) -> dict[str, list[Rate]]:
    """``rows`` as returned by ``Store.all_feedback()``: (Feedback, Summary) pairs."""
    return {
        "overall": _rates(("all", fb.rating) for fb, _ in rows),
        "model": _rates((model_label(s.model, s.adapter), fb.rating) for fb, s in rows),
        "platform": _rates((s.platform, fb.rating) for fb, s in rows),
        "source": _rates((fb.source, fb.rating) for fb, _ in rows),
    }


def by_day(rows: Sequence[tuple[Any, Any]]) -> list[tuple[date, int, int]]:
    """(day, 👍, 👎) per day of the vote, oldest first."""
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for fb, _ in rows:
        counts[fb.created_at.date()][0 if fb.rating > 0 else 1] += 1
    return [(day, up, down) for day, (up, down) in sorted(counts.items())]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without numpy."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_table(summaries: Sequence[Any], quantiles: Sequence[int] = (50, 90, 95, 99)) -> list[dict[str, Any]]:
    """Latency percentiles (ms) overall and per model, from Summary.latency_ms."""
    groups: dict[str, list[float]] = defaultdict(list)
    for summary in summaries:
        groups["all"].append(summary.latency_ms)
        groups[model_label(summary.model, summary.adapter)].append(summary.latency_ms)
    return [
        {"group": group, "count": len(values), **{f"p{q}": percentile(values, q) for q in quantiles}}
        for group, values in sorted(groups.items(), key=lambda kv: (kv[0] != "all", -len(kv[1])))
    ]


def chat_report_summary(store: Any, top: int = 3) -> str:
    """A short plain-text summary for the Slack/Discord admin commands (no mentions, no markup)."""
    rows = store.all_feedback()
    summaries = store.recent_summaries(limit=100_000)
    if not summaries:
        return "Recap report: no summaries recorded yet."
    tables = feedback_tables(rows)
    lines = [f"Recap report: {len(summaries)} summaries, {len(rows)} votes."]
    if rows:
        lines.append(f"Overall: {tables['overall'][0].text()}.")
        lines += [f"- {rate.group}: {rate.text()}" for rate in tables["model"][:top]]
        lines.append("By platform: " + "; ".join(f"{r.group} {r.rate:.0%} of {r.votes}" for r in tables["platform"]))
    else:
        lines.append("No 👍/👎 votes yet.")
    latency = latency_table(summaries)[0]
    lines.append(
        f"Latency: p50 {latency['p50'] / 1000:.1f} s, p90 {latency['p90'] / 1000:.1f} s, "
        f"p99 {latency['p99'] / 1000:.1f} s."
    )
    return "\n".join(lines)
