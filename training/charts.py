"""matplotlib charts as PNG bytes (Agg backend: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402 - the backend must be chosen first
import matplotlib.pyplot as plt  # noqa: E402

from training.feedback import Rate  # noqa: E402


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def length_histogram(lengths: Mapping[str, Sequence[int]]) -> bytes:
    """Word counts of each system's outputs and of the references, overlaid."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    top = max((max(v) for v in lengths.values() if v), default=1)
    bins = list(range(0, top + 5, max(1, (top + 5) // 30)))
    for name, values in lengths.items():
        ax.hist(values, bins=bins, alpha=0.45, label=name)
    ax.set_xlabel("words")
    ax.set_ylabel("summaries")
    ax.legend(fontsize=7)
    return _png(fig)


def sweep_curves(runs: Sequence[Mapping[str, Any]], x_key: str) -> bytes:
    """Validation ROUGE-L against one grid option, one line per combination of the other options."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lines: dict[str, list[tuple[Any, float]]] = {}
    for run in runs:
        if run["status"] != "ok":
            continue
        rest = ", ".join(f"{k}={v}" for k, v in run["params"].items() if k != x_key) or "all"
        lines.setdefault(rest, []).append((run["params"][x_key], run["metrics"].get("rougeL", 0.0)))
    for label, points in lines.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    if x_key in ("learning_rate",):
        ax.set_xscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel("validation ROUGE-L")
    ax.legend(fontsize=7)
    return _png(fig)


def loss_curves(logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, entries in logs.items():
        points = [(e["step"], e["loss"]) for e in entries if "loss" in e]
        # Markers: a short run logs one or two losses, and a line alone would not show a single point.
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=6)
    return _png(fig)


def rate_bars(rates: Sequence[Rate], title: str) -> bytes:
    """👍 rate per group with its Wilson 95% interval as error bars."""
    fig, ax = plt.subplots(figsize=(7, max(2.2, 0.8 + 0.45 * len(rates))))
    names = [r.group for r in rates]
    values = [r.rate * 100 for r in rates]
    # Clamped at 0: at a 0% or 100% rate the Wilson bound can miss the rate by a rounding error,
    # and matplotlib refuses negative error bars.
    errors = [
        [max(0.0, r.rate - r.interval[0]) * 100 for r in rates],
        [max(0.0, r.interval[1] - r.rate) * 100 for r in rates],
    ]
    ax.barh(names, values, xerr=errors, capsize=3, color="#4a8")
    ax.set_xlim(0, 100)
    ax.set_xlabel("thumbs-up rate, % (95% Wilson interval)")
    ax.set_title(title, fontsize=9)
    ax.invert_yaxis()
    return _png(fig)


def votes_over_time(days: Sequence[tuple[date, int, int]]) -> bytes:
    """Stacked 👍/👎 bars per day on a real date axis (days without votes stay visible as gaps)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    # date2num turns days into the floats bar() is typed for; the date locator and formatter label them.
    x = [float(mdates.date2num(d)) for d, _, _ in days]
    ups = [u for _, u, _ in days]
    downs = [d for _, _, d in days]
    ax.bar(x, ups, width=0.8, color="#4a8", label="thumbs up")
    ax.bar(x, downs, width=0.8, bottom=ups, color="#c55", label="thumbs down")
    if x:
        ax.set_xlim(min(x) - 1, max(x) + 1)  # one day alone would otherwise get a sub-day axis
    locator = mdates.AutoDateLocator(minticks=1, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel("votes per day")
    ax.legend(fontsize=7)
    return _png(fig)
