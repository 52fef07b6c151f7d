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
    comma_list,
    eval_app,
    friendly_errors,
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
    **knobs: Any,
) -> Any:
    """The worker's runtime with greedy/beam generation; ``knobs``: other GenerationSettings fields
    (length_penalty, no_repeat_ngram_size, repetition_penalty, min_new_tokens)."""
    from training.finetune import TrainingConfigError
    from worker.model.runtime import GenerationSettings, TransformersRuntime

    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise TrainingConfigError(f"--device {device!r}: choose auto, cpu, cuda or cuda:N")
    generation = GenerationSettings(
        max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False, temperature=1.0, top_p=1.0, **knobs
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
    length_penalty: Annotated[float, typer.Option(help="Beam length penalty (<1 shorter, >1 longer).")] = 1.0,
    no_repeat_ngram_size: Annotated[int, typer.Option(help="Never repeat an n-gram of this size (0: off).")] = 0,
    repetition_penalty: Annotated[float, typer.Option(help="Penalty on repeated tokens (1: none).")] = 1.0,
    min_new_tokens: Annotated[int, typer.Option(help="Shortest summary in tokens.")] = 0,
    saved_generation: Annotated[
        bool, typer.Option(help="Use the adapter's (or model's) generation.json, as the worker would.")
    ] = False,
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
            length_penalty=length_penalty,
            no_repeat_ngram_size=no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            min_new_tokens=min_new_tokens,
        )
        if saved_generation:
            runtime.generation = _saved_generation(adapter or model)
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


def _saved_generation(folder: str) -> Any:
    from training.data import DataError
    from worker.model.generation import load_generation

    saved = load_generation(folder) if Path(folder).expanduser().is_dir() else None
    if saved is None:
        raise DataError(f"--saved-generation: no generation.json in {folder} (write one with eval tune-generation)")
    return saved


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


from training.cli_report import report_command  # noqa: E402 - `recap report`, kept importable from here

__all__ = ["build_runtime", "parse_systems", "report_command"]
