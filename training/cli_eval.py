"""`recap eval prompts|score|run|compare` and `recap report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from training.cli_common import (
    DEFAULT_DATA,
    Data,
    Limit,
    Model,
    StoreUrl,
    comma_list,
    eval_app,
    friendly_errors,
    open_store,
    store_label,
    write_result,
)

Split = Annotated[str, typer.Option(help="train, validation or test (test has all three references).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
Adapter = Annotated[str | None, typer.Option(help="LoRA adapter folder (or hub id).")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
NewTokens = Annotated[int, typer.Option(help="Longest summary in tokens (set explicitly: the default is 20).")]
Beams = Annotated[int, typer.Option(help="Beam search width (1 = greedy).")]
BatchSize = Annotated[int, typer.Option(help="Dialogues per generate() call.")]
Window = Annotated[int, typer.Option(help="Model input window in tokens.")]
AllowEmpty = Annotated[bool, typer.Option(help="Score empty predictions as empty instead of refusing.")]
Systems = Annotated[list[str], typer.Argument(help="NAME=PREDICTIONS.jsonl, one per system (e.g. original=p0.jsonl).")]


def build_runtime(
    model: str,
    adapter: str | None,
    *,
    device: str,
    max_input_tokens: int,
    max_new_tokens: int,
    num_beams: int,
    batch_size: int,
) -> Any:
    from training.finetune import TrainingConfigError
    from worker.model.runtime import GenerationSettings, TransformersRuntime

    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise TrainingConfigError(f"--device {device!r}: choose auto, cpu, cuda or cuda:N")
    generation = GenerationSettings(
        max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False, temperature=1.0, top_p=1.0
    )
    return TransformersRuntime(
        model,
        adapter,
        device=device,
        max_input_tokens=max_input_tokens,
        generation=generation,
        batch_size=batch_size,
    )


@eval_app.command("prompts")
def prompts(
    model: Model = "google/flan-t5-base",
    adapter: Adapter = None,
    data: Data = DEFAULT_DATA,
    split: Split = "test",
    limit: Annotated[int, typer.Option(help="Dialogues to score.")] = 50,
    shot_split: Annotated[str, typer.Option(help="Split the in-context examples come from.")] = "train",
    shot_ids: Annotated[
        str, typer.Option(help="Comma-separated example ids (id#N: annotator N's summary); one-shot uses the first.")
    ] = "train_40,train_80,train_120",
    ids: Annotated[str | None, typer.Option(help="Comma-separated target ids to score (instead of --limit).")] = None,
    seed_exact: Annotated[
        bool, typer.Option(help="The seed's own examples: hub test rows 40, 80, 120 as shots, row 200 as target.")
    ] = False,
    templates: Annotated[
        str | None, typer.Option(help="Comma-separated: zero-shot, zero-shot-seed, one-shot, few-shot.")
    ] = None,
    max_new_tokens: NewTokens = 128,
    batch_size: BatchSize = 8,
    max_input_tokens: Window = 2048,
    device: Device = "auto",
    out: Annotated[Path | None, typer.Option(help="Write results.json, results.md and predictions here.")] = None,
    as_json: AsJson = False,
) -> dict[str, Any]:
    """Zero-, one- and few-shot prompts with the seed's templates; ROUGE/BLEU per template, both protocols,
    prompt token counts (flagged past Flan-T5's 512-token training length)."""
    from training.data import find_by_id, load_split
    from training.evaluation import write_jsonl
    from training.prompts import SEED_TEMPLATES, check_templates, make_prompt, results_table, run_templates, seed_ids

    with friendly_errors():
        if seed_exact:
            seed_shots, seed_target = seed_ids()
            shot_split, shot_ids, split = "test", ",".join(seed_shots), "test"
            ids = ids or seed_target.partition("#")[0]
        names = check_templates(comma_list(templates or ",".join(SEED_TEMPLATES if seed_exact else
                                                                  ("zero-shot", "one-shot", "few-shot"))))
        targets = find_by_id(load_split(data, split), comma_list(ids)) if ids else load_split(data, split, limit)
        shots = find_by_id(load_split(data, shot_split), comma_list(shot_ids))
        runtime = build_runtime(model, adapter, device=device, max_input_tokens=max_input_tokens,
                                max_new_tokens=max_new_tokens, num_beams=1, batch_size=batch_size)
        run = run_templates(targets, shots, names, generate=runtime.generate, count_tokens=runtime.count_tokens,
                            window=max_input_tokens, batch_size=batch_size)
    summary = run.summary() | {"model": model, "adapter": adapter, "data": data, "split": split,
                               "shot_ids": [s.id for s in shots], "target_ids": [t.id for t in targets],
                               "seed_exact": seed_exact}
    table = results_table(run)
    if out:
        write_result(out, "results", summary, table)
        for r in run.results:
            write_jsonl(
                out / f"predictions-{r.name}.jsonl",
                [{"id": i, "prediction": p, "template": r.name} for i, p in zip(r.ids, r.predictions, strict=True)],
            )
            (out / f"prompt-{r.name}.txt").write_text(make_prompt(r.name, targets[0].dialogue, shots), "utf-8")
    typer.echo(json.dumps(summary) if as_json else table)
    return summary


@eval_app.command("score")
def score(
    predictions: Annotated[Path, typer.Option(help="JSONL with id and prediction.")],
    references: Annotated[Path, typer.Option(help="DialogSum-style JSONL with id and summaries or summary.")],
    as_json: AsJson = False,
    allow_empty: AllowEmpty = False,
    partial: Annotated[
        bool, typer.Option(help="Score only predicted ids when some references lack a prediction.")
    ] = False,
) -> dict[str, Any]:
    """Score any system's predictions with ROUGE and BLEU, protocols A and C."""
    from training.scoring import format_scores, score_files

    with friendly_errors():
        result = score_files(predictions, references, allow_empty=allow_empty, partial=partial)
    typer.echo(json.dumps(result) if as_json else format_scores(result))
    return result


@eval_app.command("run")
def run(
    model: Model = "google/flan-t5-base",
    adapter: Adapter = None,
    data: Data = DEFAULT_DATA,
    split: Split = "test",
    limit: Limit = None,
    out: Annotated[Path, typer.Option(help="Folder for predictions.jsonl and eval.json/eval.md.")] = Path("runs/eval"),
    name: Annotated[str | None, typer.Option(help="System name in the tables.")] = None,
    max_new_tokens: NewTokens = 128,
    num_beams: Beams = 1,
    batch_size: BatchSize = 8,
    max_input_tokens: Window = 512,
    device: Device = "auto",
    as_json: AsJson = False,
) -> dict[str, Any]:
    """Generate with the worker's runtime in batches, write predictions with the settings, then score."""
    from rich.progress import Progress

    from training.data import load_split
    from training.evaluation import compare, compare_markdown, generate_predictions, write_jsonl

    with friendly_errors():
        examples = load_split(data, split, limit)
        runtime = build_runtime(
            model,
            adapter,
            device=device,
            max_input_tokens=max_input_tokens,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            batch_size=batch_size,
        )
        with Progress(transient=True) as progress:
            task = progress.add_task("Summarizing", total=len(examples))
            rows = generate_predictions(
                runtime, examples, batch_size=batch_size, progress=lambda n: progress.advance(task, n)
            )
        write_jsonl(out / "predictions.jsonl", rows)
        system = name or (Path(adapter).name if adapter else Path(model).name)
        result = compare({system: {r["id"]: r["prediction"] for r in rows}}, examples, allow_empty=True)
    result["run"] = {
        "model": model,
        "adapter": adapter,
        "data": data,
        "split": split,
        "generation": rows[0]["generation"],
    }
    write_result(out, "eval", result, compare_markdown(result))
    typer.echo(json.dumps(result) if as_json else compare_markdown(result))
    return result


def parse_systems(systems: list[str]) -> dict[str, dict[str, str]]:
    from training.scoring import MetricsError, read_predictions

    out = {}
    for item in systems:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise MetricsError(f"expected NAME=PREDICTIONS.jsonl, got {item!r}")
        out[name] = read_predictions(path)
    return out


@eval_app.command("compare")
def compare_command(
    systems: Systems,
    data: Data = DEFAULT_DATA,
    split: Split = "test",
    out: Annotated[Path | None, typer.Option(help="Write compare.json and compare.md here.")] = None,
    allow_empty: AllowEmpty = False,
    as_json: AsJson = False,
) -> dict[str, Any]:
    """The seed's table for several systems, with absolute gains in percentage points of each over each."""
    from training.data import load_split
    from training.evaluation import compare, compare_markdown

    with friendly_errors():
        result = compare(parse_systems(systems), load_split(data, split), allow_empty=allow_empty)
    if out:
        write_result(out, "compare", result, compare_markdown(result))
    typer.echo(json.dumps(result) if as_json else compare_markdown(result))
    return result


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
    return feedback_sections(opened) + ([latency_section(summaries, where)] if summaries else [])
