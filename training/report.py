"""`recap report`: offline metrics, sweeps and live feedback in one Markdown file and one self-contained HTML.

The same sections render to both. The HTML embeds every chart as a base64 PNG, so it can be mailed or
attached in chat; the Markdown links the same PNGs, written to ``charts/`` next to it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training import charts
from training.evaluation import METRIC_KEYS, METRIC_LABELS
from training.feedback import by_day, feedback_tables, latency_table
from training.metrics import PROTOCOL_TEXT


@dataclass
class Chart:
    name: str
    png: bytes
    alt: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Chart] = field(default_factory=list)


def metrics_section(
    result: Mapping[str, Any], predictions: Mapping[str, Sequence[str]], references: Sequence[str]
) -> list[Section]:
    from training.tables import gain_rows, system_rows

    sections = []
    for protocol, label in (("protocol_a", "A"), ("protocol_c", "C")):
        sections.append(
            Section(
                f"Offline metrics, protocol {label}",
                [
                    f"{PROTOCOL_TEXT[label]} {result['n']} dialogues"
                    + (f" of {result['source']}" if result.get("source") else "")
                    + f", {result['references_per_dialogue']} references each, 0-100 scale, 95 % bootstrap "
                    "interval in brackets. The human row scores each annotator against the other two "
                    "(no interval: it is context, not a system). "
                    "Rows marked published are the seed notebook's ROUGE-1 (protocol A), for reference.",
                    Table(["system", *(METRIC_LABELS[k] for k in METRIC_KEYS), "mean words"],
                          system_rows(result, protocol)),
                    "Improvement, candidate minus baseline, percentage points, paired 95 % interval:",
                    Table(["candidate", "baseline", *(METRIC_LABELS[k] for k in METRIC_KEYS)],
                          gain_rows(result, protocol)),
                ],
            )
        )
    lengths = {name: [len(t.split()) for t in texts] for name, texts in predictions.items()}
    lengths["references"] = [len(t.split()) for t in references]
    sections.append(
        Section(
            "Output length",
            [
                f"Mean words: references {result['reference_mean_words']:.1f}; "
                + "; ".join(f"{name} {row['mean_words']:.1f}" for name, row in result["systems"].items())
                + ".",
                Chart("lengths", charts.length_histogram(lengths), "histogram of summary lengths in words"),
            ],
        )
    )
    return sections


def sweep_section(summary: Mapping[str, Any], logs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Section:
    keys = summary["grid"]
    rows = [
        [
            r["name"],
            *(str(r["params"][k]) for k in keys),
            r["status"],
            f"{r['metrics'].get('rougeL', float('nan')):.2f}",
            f"{r['seconds']:.1f}",
            f"{r['peak_memory_mb']:.0f}",
        ]
        for r in summary["runs"]
    ]
    blocks: list[str | Table | Chart] = [
        f"{summary['method']} sweep; best by validation ROUGE-L (one reference): **{summary['best']}**.",
        Table(["run", *keys, "status", "ROUGE-L", "seconds", "peak MB"], rows),
    ]
    for key in keys:
        blocks.append(Chart(f"sweep-{key}", charts.sweep_curves(summary["runs"], key), f"ROUGE-L against {key}"))
    if logs:
        blocks.append(Chart("sweep-loss", charts.loss_curves(logs), "training loss per step for each run"))
    return Section("Sweep", blocks)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def feedback_sections(store: Any) -> list[Section]:
    rows = store.all_feedback()
    summaries = store.recent_summaries(limit=100_000)
    if not summaries:
        return [Section("Live feedback", ["The store holds no summaries yet."])]
    tables = feedback_tables(rows)

    def rate_table(kind: str) -> Table:
        return Table(
            [kind, "votes", "thumbs up", "rate", "95% CI (Wilson)"],
            [
                [
                    r.group,
                    str(r.votes),
                    str(r.up),
                    _pct(r.rate),
                    f"{_pct(r.interval[0])}-{_pct(r.interval[1])}",
                ]
                for r in tables[kind]
            ],
        )

    sections = [
        Section(
            "Live feedback by model and adapter",
            [
                f"{len(summaries)} summaries, {len(rows)} votes (one live vote per person per summary).",
                rate_table("model"),
                *(
                    [
                        Chart(
                            "feedback-model",
                            charts.rate_bars(tables["model"], "by model and adapter"),
                            "thumbs-up rate per model with confidence intervals",
                        )
                    ]
                    if rows
                    else []
                ),
            ],
        )
    ]
    if rows:
        sections.append(
            Section(
                "Live feedback by platform and over time",
                [
                    rate_table("platform"),
                    rate_table("source"),
                    Chart("feedback-time", charts.votes_over_time(by_day(rows)), "votes per day"),
                ],
            )
        )
    latency = latency_table(summaries)
    sections.append(
        Section(
            "Latency",
            [
                "Generation milliseconds recorded per summary (Summary.latency_ms: for a batched job, the whole "
                "batch's time; queue wait and delivery not included), linear-interpolated percentiles. "
                "The per-stage table below splits it where the store records the stages.",
                Table(
                    ["model", "summaries", "p50", "p90", "p95", "p99"],
                    [
                        [r["group"], str(r["count"]), *(f"{r[q]:.0f}" for q in ("p50", "p90", "p95", "p99"))]
                        for r in latency
                    ],
                ),
            ],
        )
    )
    return sections


def to_markdown(title: str, sections: Sequence[Section], chart_dir: str = "charts") -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines += ["| " + " | ".join(block.headers) + " |", "|" + "---|" * len(block.headers)]
                lines += ["| " + " | ".join(row) + " |" for row in block.rows]
            elif isinstance(block, Chart):
                lines.append(f"![{block.alt}]({chart_dir}/{block.name}.png)")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")  # the only inline markup the sections use
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def to_html(title: str, sections: Sequence[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
                rows = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif isinstance(block, Chart):
                data = base64.b64encode(block.png).decode("ascii")
                body.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
            else:
                body.append(f"<p>{_inline(block)}</p>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:.9em}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(out: str | Path, sections: Sequence[Section], title: str = "Recap evaluation report") -> Path:
    """Write report.md (+ charts/*.png) and report.html into ``out``; returns the HTML path."""
    out = Path(out).expanduser()
    (out / "charts").mkdir(parents=True, exist_ok=True)
    stamped = f"{title} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Chart):
                (out / "charts" / f"{block.name}.png").write_bytes(block.png)
    (out / "report.md").write_text(to_markdown(stamped, sections), encoding="utf-8")
    (out / "report.html").write_text(to_html(stamped, sections), encoding="utf-8")
    return out / "report.html"
