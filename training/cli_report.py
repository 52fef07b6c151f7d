"""`recap report`: metrics with intervals, systems, scoring, training runs, prompt experiments, sweeps, store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from training.cli_common import DEFAULT_DATA, Data, StoreUrl, friendly_errors, open_store, store_label

Split = Annotated[str, typer.Option(help="train, validation or test (test has all three references).")]


def report_command(
    out: Annotated[Path, typer.Option(help="Folder for report.md, report.html and charts/.")] = Path("report"),
    system: Annotated[list[str] | None, typer.Option(help="NAME=PREDICTIONS.jsonl; repeat for each system.")] = None,
    data: Data = DEFAULT_DATA,
    split: Split = "test",
    sweep: Annotated[list[Path] | None, typer.Option(help="Sweep output folder; repeatable.")] = None,
    run: Annotated[list[Path] | None, typer.Option("--run", help="Training output folder; repeatable.")] = None,
    prompt_results: Annotated[
        list[Path] | None, typer.Option("--prompts", help="`recap eval prompts --out` folder; repeatable.")
    ] = None,
    store_url: StoreUrl = None,
    store: Annotated[bool, typer.Option("--store/--no-store", help="Include live feedback from the store.")] = True,
) -> Path:
    """Markdown + self-contained HTML: metrics with 95 % intervals (both protocols), systems, scoring details,
    training runs, prompt experiments, sweeps, lengths, live feedback, latency per stage."""
    sections = []
    with friendly_errors():
        if system:
            sections += _system_sections(system, data, split)
        sections += _folder_sections(run or [], prompt_results or [], sweep or [])
        if store:
            sections += _store_sections(store_url)
    from training.report import write_report

    path = write_report(out, sections)
    typer.echo(f"Wrote {out / 'report.md'} and {path}")
    return path


def _system_sections(system: list[str], data: str, split: str) -> list[Any]:
    from training.cli_eval import parse_systems
    from training.data import load_split
    from training.evaluation import compare
    from training.report import metrics_section
    from training.report_sections import scoring_section, systems_section

    predictions = parse_systems(system)
    examples = load_split(data, split)
    result = compare(predictions, examples, allow_empty=True)
    result["source"] = f"{data} ({split} split)"
    by_id = {e.id: e for e in examples}
    refs = [r for i in result["ids"] for r in by_id[i].all_references]
    texts = {name: [p[i] for i in result["ids"]] for name, p in predictions.items()}
    files = {item.partition("=")[0]: item.partition("=")[2] for item in system}
    boot = result["bootstrap"]
    return [systems_section(files), *metrics_section(result, texts, refs),
            scoring_section(result["references_per_dialogue"], boot["samples"], boot["seed"])]


def _folder_sections(runs: list[Path], prompt_folders: list[Path], sweeps: list[Path]) -> list[Any]:
    from training.artifacts import read_loss_log
    from training.report import sweep_section
    from training.report_sections import prompts_section, training_section
    from training.sweep import load_summary

    sections = [training_section(folder) for folder in runs]
    sections += [prompts_section(folder) for folder in prompt_folders]
    for folder in sweeps:
        summary = load_summary(folder)
        logs = {r["name"]: read_loss_log(Path(folder) / r["name"] / "loss_log.jsonl") for r in summary["runs"]}
        sections.append(sweep_section(summary, logs))
    return sections


def _store_sections(store_url: str | None) -> list[Any]:
    from training.report import feedback_sections
    from training.report_sections import latency_section

    opened = open_store(store_url)
    where = store_label(opened)
    typer.echo(f"Read the store at {where}")
    summaries = opened.recent_summaries(limit=100_000)
    sections = feedback_sections(opened) + ([latency_section(summaries, where)] if summaries else [])
    return sections + _ab_sections(opened)


def _ab_sections(store: Any) -> list[Any]:
    """Live A/B experiments, after stopping any whose losing arm is now clear (when set to stop themselves)."""
    from config.settings import active_settings
    from training.abtest import ab_section, auto_stop

    settings = active_settings()
    auto_stop(store, settings)
    return [ab_section(store, settings)]
