"""`recap eval tune-generation` and `recap eval gate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from training.cli_common import DEFAULT_DATA, Data, Limit, Model, comma_list, eval_app, friendly_errors, write_result

Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _numbers(value: str, kind: type, option: str) -> list[Any]:
    from training.data import DataError

    try:
        values = [kind(item) for item in comma_list(value)]
    except ValueError:
        values = []
    if not values:
        raise DataError(f"{option} {value!r}: expected comma-separated numbers, e.g. {option} 1,2,4")
    return values


@eval_app.command("tune-generation")
def tune_generation(
    adapter: Annotated[str | None, typer.Option(help="LoRA folder to tune; generation.json is written there.")] = None,
    model: Model = "google/flan-t5-base",
    data: Data = DEFAULT_DATA,
    split: Annotated[str, typer.Option(help="Split to tune on (never test).")] = "validation",
    limit: Limit = 200,
    beams: Annotated[str, typer.Option(help="Beam widths to try (1 = greedy).")] = "1,2,3,4",
    length_penalties: Annotated[str, typer.Option(help="Length penalties for beam search.")] = "0.6,0.8,1.0,1.2",
    max_new_tokens: Annotated[str, typer.Option(help="Longest summary values to try, in tokens.")] = "48,64",
    no_repeat_ngram: Annotated[str, typer.Option(help="no_repeat_ngram_size values (0: off).")] = "0,3",
    batch_size: Annotated[int, typer.Option(help="Dialogues per generate() call.")] = 8,
    max_input_tokens: Annotated[int, typer.Option(help="Model input window in tokens.")] = 512,
    device: Device = "auto",
    out: Annotated[Path | None, typer.Option(help="Folder for generation.json (default: the adapter's).")] = None,
    as_json: AsJson = False,
) -> dict[str, Any]:
    """Grid-search generation settings on validation; best by ROUGE-L, with each setting's length ratio."""
    from training.cli_eval import build_runtime
    from training.data import DataError, load_split
    from training.tuning import grid, tuning_table
    from training.tuning import tune_generation as run_tuning
    from worker.model.generation import GenerationSettings, save_generation

    with friendly_errors():
        if split == "test":
            raise DataError("--split test: tune on validation (or train) so the test scores stay unbiased")
        folder = out or (Path(adapter) if adapter else Path(model))
        if out:
            out.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise DataError(f"--out {folder}: not a local folder to write generation.json into; pass --out")
        candidates = grid(GenerationSettings(), _numbers(beams, int, "--beams"),
                          _numbers(length_penalties, float, "--length-penalties"),
                          _numbers(max_new_tokens, int, "--max-new-tokens"),
                          _numbers(no_repeat_ngram, int, "--no-repeat-ngram"))
        examples = load_split(data, split, limit)
        runtime = build_runtime(model, adapter, device=device, max_input_tokens=max_input_tokens,
                                max_new_tokens=64, num_beams=1, batch_size=batch_size)
        result = run_tuning(runtime, examples, candidates)
        path = save_generation(result.pop("best_generation"), folder)
    result |= {"model": model, "adapter": adapter, "data": data, "split": split, "written": str(path)}
    write_result(folder, "generation-search", result, tuning_table(result))
    typer.echo(json.dumps(result) if as_json else tuning_table(result) + f"\n\nWrote {path}")
    return result


def _predictions(source: str, *, model: str, examples: list[Any], device: str, batch_size: int) -> dict[str, str]:
    """A prediction JSONL as-is, or an adapter folder's summaries generated now (with its generation.json)."""
    from training.cli_eval import build_runtime
    from training.evaluation import generate_predictions
    from training.scoring import read_predictions
    from worker.model.generation import GenerationSettings, load_generation

    path = Path(source).expanduser()
    if path.is_file():
        return read_predictions(path)
    generation = load_generation(path) if path.is_dir() else None
    runtime = build_runtime(model, source, device=device, max_input_tokens=512, max_new_tokens=64, num_beams=1,
                            batch_size=batch_size)
    runtime.generation = generation or GenerationSettings(max_new_tokens=64)
    rows = generate_predictions(runtime, examples, batch_size=batch_size)
    return {row["id"]: row["prediction"] for row in rows}


def gate_table(result: dict[str, Any]) -> str:
    from training.evaluation import METRIC_KEYS, METRIC_LABELS

    lines = ["| protocol | " + " | ".join(METRIC_LABELS[k] for k in METRIC_KEYS) + " |",
             "|---|" + "---|" * len(METRIC_KEYS)]
    for protocol, values in result["difference"].items():
        cells = [f"{v['estimate']:+.2f} [{v['low']:+.2f}, {v['high']:+.2f}]" for v in (values[k] for k in METRIC_KEYS)]
        lines.append(f"| {protocol.removeprefix('protocol_').upper()} | " + " | ".join(cells) + " |")
    chosen = result["difference"][result["protocol"]][result["metric"]]
    lines += ["", f"Candidate minus baseline on {result['n']} test dialogues, paired bootstrap "
              f"({result['samples']} resamples, seed {result['seed']}), 95 % interval in brackets.",
              f"{result['metric']} ({result['protocol']}): {chosen['estimate']:+.2f} "
              f"[{chosen['low']:+.2f}, {chosen['high']:+.2f}] -> {result['verdict']}."]
    return "\n".join(lines)


@eval_app.command("gate")
def gate_command(
    candidate: Annotated[str, typer.Option(help="Predictions JSONL or adapter folder of the new system.")],
    baseline: Annotated[str, typer.Option(help="Predictions JSONL or adapter folder it would replace.")],
    model: Model = "google/flan-t5-base",
    data: Data = DEFAULT_DATA,
    split: Annotated[str, typer.Option(help="Split both are scored on.")] = "test",
    limit: Limit = None,
    metric: Annotated[str, typer.Option(help="Deciding metric: rouge1, rouge2, rougeL, rougeLsum, bleu.")] = "rougeL",
    protocol: Annotated[str, typer.Option(help="protocol_a or protocol_c.")] = "protocol_a",
    samples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 12345,
    device: Device = "auto",
    batch_size: Annotated[int, typer.Option(help="Dialogues per generate() call (adapters).")] = 8,
    out: Annotated[Path | None, typer.Option(help="Write gate.json and gate.md here.")] = None,
    as_json: AsJson = False,
) -> dict[str, Any]:
    """Paired bootstrap of candidate minus baseline on the same test dialogues; exit status 1 when the
    candidate is worse beyond the 95 % interval (use it before serving a new adapter)."""
    from training.data import load_split
    from training.tuning import gate

    with friendly_errors():
        examples = load_split(data, split, limit)
        options = {"model": model, "examples": examples, "device": device, "batch_size": batch_size}
        result = gate(_predictions(candidate, **options), _predictions(baseline, **options), examples,
                      metric=metric, protocol=protocol, samples=samples, seed=seed)
    result |= {"candidate": candidate, "baseline": baseline, "data": data, "split": split}
    if out:
        write_result(out, "gate", result, gate_table(result))
    typer.echo(json.dumps(result) if as_json else gate_table(result))
    if result["verdict"] == "worse":
        typer.echo("The candidate is worse than the baseline beyond the 95 % interval: keep the baseline.", err=True)
        raise typer.Exit(1)
    return result
