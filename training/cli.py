"""`recap train …`, `recap eval …` and `recap report`.

Each command is a plain typed function (defaults are real values), so it doubles as a Python API:
``from training.cli import lora; lora(model=..., data=..., out=...)``. Heavy libraries load inside.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from training.cli_common import (
    DEFAULT_DATA,
    Data,
    Limit,
    Model,
    Out,
    StoreUrl,
    comma_list,
    eval_app,
    friendly_errors,
    open_store,
    store_label,
    train_app,
)

Lr = Annotated[float | None, typer.Option("--lr", help="Learning rate (default 1e-3 LoRA, 5e-5 full).")]
Batch = Annotated[int, typer.Option(help="Per-device batch size.")]
Epochs = Annotated[float, typer.Option(help="Epochs (ignored when --max-steps > 0).")]
Steps = Annotated[int, typer.Option(help="Training steps; overrides --epochs when > 0.")]
Warmup = Annotated[float, typer.Option(help="Warmup: a share of the steps (< 1) or a step count.")]
Decay = Annotated[float, typer.Option(help="Weight decay.")]
InLen = Annotated[int, typer.Option(help="Longest prompt in tokens; longer ones are truncated and counted.")]
OutLen = Annotated[int, typer.Option(help="Longest target summary in tokens (also the eval generation length).")]
Seed = Annotated[int, typer.Option(help="Random seed (model init, shuffling, dropout).")]
Prec = Annotated[str, typer.Option(help="auto (bf16 on CUDA, else fp32), bf16 or fp32. fp16 is refused for T5.")]
Ckpt = Annotated[bool, typer.Option(help="Gradient checkpointing (less memory, slower).")]
EvalEvery = Annotated[int, typer.Option(help="Validate and checkpoint every N steps (0: every epoch).")]
EvalBatch = Annotated[int | None, typer.Option(help="Validation batch size (default: --batch-size).")]
Accum = Annotated[int, typer.Option(help="Gradient accumulation steps (effective batch = batch x accum x GPUs).")]
Keep = Annotated[int, typer.Option(help="Checkpoints kept on disk (the best is never deleted).")]
Patience = Annotated[int, typer.Option(help="Stop after N validations without a better ROUGE-L (0: never).")]
Resume = Annotated[bool, typer.Option(help="Continue from the newest checkpoint in OUT/trainer.")]
ValBeams = Annotated[int, typer.Option(help="Beams for validation summaries.")]
ValLen = Annotated[int | None, typer.Option(help="Validation summary length in tokens (default --max-target-tokens).")]
ValSplit = Annotated[str, typer.Option(help="Split of --data that validates and picks the best epoch.")]
Schedule = Annotated[str, typer.Option(help="Learning-rate schedule (transformers name: linear, cosine, constant).")]
LogEvery = Annotated[int, typer.Option(help="Log the loss every N steps (loss_log.jsonl).")]
Prompt = Annotated[str | None, typer.Option(help="Folder or prompt.json to train with (default: the shared one).")]


def _train(method: str, **options: Any) -> Path:
    from training.finetune import TrainConfig, train

    options["learning_rate"] = options.pop("lr")
    options["out"] = str(options["out"])
    with friendly_errors():
        result = train(TrainConfig(method=method, **options))  # type: ignore[arg-type]
    val, metrics = result.metrics["validation"], result.metrics
    kept = (
        f"best checkpoint {metrics['best_checkpoint']} (step {metrics['best_step']} of {metrics['global_step']}"
        + (", stopped early)" if metrics["stopped_early"] else ")")
        if metrics["best_checkpoint"]
        else f"the final weights (step {metrics['global_step']}; no checkpoint was due before the end)"
    )
    typer.echo(
        f"Saved to {result.out} in {result.seconds:.0f} s: {kept}. Validation (one reference): "
        f"ROUGE-1 {val.get('rouge1', 0):.2f}, ROUGE-L {val.get('rougeL', 0):.2f}, BLEU {val.get('bleu', 0):.2f}"
    )
    return result.out


@train_app.command("full")
def full(
    out: Out,
    model: Model = "google/flan-t5-base",
    data: Data = DEFAULT_DATA,
    lr: Lr = None,
    batch_size: Batch = 8,
    epochs: Epochs = 5.0,
    max_steps: Steps = 0,
    warmup: Warmup = 0.0,
    weight_decay: Decay = 0.01,
    max_input_tokens: InLen = 512,
    max_target_tokens: OutLen = 128,
    train_limit: Limit = None,
    val_limit: Limit = None,
    seed: Seed = 42,
    precision: Prec = "auto",
    gradient_checkpointing: Ckpt = False,
    eval_every: EvalEvery = 0,
    logging_steps: LogEvery = 10,
    prompt: Prompt = None,
    eval_batch_size: EvalBatch = None,
    grad_accum: Accum = 1,
    save_total_limit: Keep = 2,
    patience: Patience = 0,
    resume: Resume = False,
    val_beams: ValBeams = 1,
    generation_max_length: ValLen = None,
    val_split: ValSplit = "validation",
    lr_scheduler: Schedule = "linear",
) -> Path:
    """Full fine-tuning: every weight is trained; the folder works as RECAP_MODEL."""
    return _train("full", **dict(locals()))


@train_app.command("lora")
def lora(
    out: Out,
    model: Model = "google/flan-t5-base",
    data: Data = DEFAULT_DATA,
    lr: Lr = None,
    batch_size: Batch = 8,
    epochs: Epochs = 5.0,
    max_steps: Steps = 0,
    warmup: Warmup = 0.0,
    weight_decay: Decay = 0.01,
    max_input_tokens: InLen = 512,
    max_target_tokens: OutLen = 128,
    train_limit: Limit = None,
    val_limit: Limit = None,
    seed: Seed = 42,
    precision: Prec = "auto",
    gradient_checkpointing: Ckpt = False,
    eval_every: EvalEvery = 0,
    logging_steps: LogEvery = 10,
    prompt: Prompt = None,
    eval_batch_size: EvalBatch = None,
    grad_accum: Accum = 1,
    save_total_limit: Keep = 2,
    patience: Patience = 0,
    resume: Resume = False,
    val_beams: ValBeams = 1,
    generation_max_length: ValLen = None,
    val_split: ValSplit = "validation",
    lr_scheduler: Schedule = "linear",
    r: Annotated[int, typer.Option(help="LoRA rank.")] = 32,
    alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 32,
    dropout: Annotated[float, typer.Option(help="LoRA dropout.")] = 0.05,
    target_modules: Annotated[str, typer.Option(help="Comma-separated modules to adapt.")] = "q,v",
    init_adapter: Annotated[
        str | None, typer.Option(help="Continue training this LoRA folder (e.g. the serving adapter).")
    ] = None,
    mix: Annotated[
        list[str] | None, typer.Option(help="PATH:WEIGHT JSONL mixed into the training rows; repeatable.")
    ] = None,
) -> Path:
    """LoRA fine-tuning (the seed's r 32, alpha 32, q and v, lr 1e-3, 5 epochs, best epoch by validation
    ROUGE-L); the folder works as RECAP_ADAPTER."""
    options = dict(locals())
    for name in ("r", "alpha", "dropout", "target_modules", "mix"):
        del options[name]
    return _train(
        "lora",
        **options,
        mix=list(mix or []),
        lora_r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=comma_list(target_modules),
    )


@train_app.command("sweep")
def sweep(
    config: Annotated[Path, typer.Argument(help="Sweep TOML: method, [base] options, [grid] lists.")],
    out: Out = Path("runs/sweep"),
) -> dict[str, Any]:
    """Run every combination of the grid; write a folder and record per run and a summary table."""
    from training.sweep import run_sweep

    with friendly_errors():
        summary = run_sweep(config, out)
    typer.echo((out / "summary.md").read_text(encoding="utf-8"))
    return summary


@train_app.command("export-feedback")
def export_feedback(
    out: Annotated[Path, typer.Option(help="JSONL to write (dialogue, summary).")],
    store_url: StoreUrl = None,
    min_rows: Annotated[
        int | None, typer.Option(help="Refuse to write fewer rows than this (default RECAP_EXPORT_MIN_ROWS).")
    ] = None,
) -> int:
    """Export 👍 summaries from workspaces that opted in to sharing, one row per dialogue, for
    `recap train lora --mix` or `--data`."""
    from training.export import export_feedback as run_export

    with friendly_errors():
        store = open_store(store_url)
        typer.echo(f"Read the store at {store_label(store)}")
        result = run_export(store, out, min_rows=_min_rows(min_rows))
    typer.echo(f"Wrote {result.written} examples to {out} ({result.duplicates} duplicate dialogues left out)")
    return result.written


def _min_rows(value: int | None) -> int:
    if value is not None:
        return value
    from config.settings import load_settings

    return int(getattr(load_settings(), "export_min_rows", 50))


from training import cli_tune  # noqa: E402, F401 - registers tune-generation and gate on eval_app
from training.cli_eval import report_command  # noqa: E402 - also registers the eval commands on eval_app

__all__ = ["eval_app", "full", "lora", "report_command", "sweep", "train_app"]


def main() -> None:  # pragma: no cover - handy for `python -m training.cli`
    root = typer.Typer()
    root.add_typer(train_app, name="train")
    root.add_typer(eval_app, name="eval")
    root.command("report")(report_command)
    root(sys.argv[1:])
