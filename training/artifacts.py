"""What a training run leaves next to its weights: prompt, arguments, data, metrics, loss log, model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

DIALOGSUM_LICENCE = "CC BY-NC-SA 4.0"


class LossLogger(TrainerCallback):
    """Appends every logged loss (training and evaluation) to a JSONL file, one object per log, from the main
    process only. A resumed run keeps the log it had (``fresh=False``) and continues it."""

    def __init__(self, path: Path, fresh: bool = True) -> None:
        self.path, self.fresh = path, fresh

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and (self.fresh or not self.path.is_file()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        keep = {k: v for k, v in (logs or {}).items() if isinstance(v, int | float)}
        if not keep or not state.is_world_process_zero:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **keep}) + "\n")


def read_loss_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")


def write_outputs(
    out: Path,
    *,
    config: Any,
    template: Any,
    metrics: dict[str, Any],
    data: dict[str, Any],
    training_args: dict[str, Any],
) -> None:
    from worker.model.prompt import save_prompt

    save_prompt(template, out)
    write_json(out / "training_args.json", training_args)
    write_json(out / "data.json", data)
    write_json(out / "metrics.json", metrics)
    (out / "README.md").write_text(model_card(config, metrics, data, template), encoding="utf-8")


def _uses_dialogsum(source: str) -> bool:
    return "dialogsum" in source.lower()


def _prompt_lines(template: Any) -> list[str]:
    """The prompt as trained, indented as a code block (it holds blank lines and a {dialogue} slot)."""
    if template is None:
        return ["The prompt the model was trained with is in `prompt.json`; the worker reads it from here."]
    body = [f"    {line}".rstrip() for line in template.template.splitlines()]
    return [
        f"Trained and served with the prompt `{template.version}` (saved in `prompt.json`, which the worker "
        "reads from this folder); `{dialogue}` is the conversation as `#PersonN#: ...` lines:",
        "",
        *body,
    ]


def _kept_line(metrics: dict[str, Any]) -> str:
    if not metrics.get("best_checkpoint"):
        return f"- kept: the final weights (step {metrics.get('global_step')}; no checkpoint was due before the end)"
    return (
        f"- kept: `{metrics['best_checkpoint']}` (step {metrics.get('best_step')} of {metrics.get('global_step')}), "
        "the best validation ROUGE-L of the checkpoints" + (" (stopped early)" if metrics.get("stopped_early") else "")
    )


def model_card(config: Any, metrics: dict[str, Any], data: dict[str, Any], template: Any = None) -> str:
    dialogsum = _uses_dialogsum(config.data)
    licence = "cc-by-nc-sa-4.0" if dialogsum else "other"
    what = "LoRA adapter" if config.method == "lora" else "fully fine-tuned model"
    val = metrics.get("validation", {})
    train, validation = data["train"], data["validation"]
    lines = [
        "---",
        f"license: {licence}",
        f"base_model: {config.model}",
        *(["datasets:", "- knkarthick/dialogsum"] if dialogsum else []),
        "tags: [summarization, dialogue, recap" + (", lora, peft]" if config.method == "lora" else "]"),
        "---",
        "",
        f"# Recap {what}: {Path(config.out).name}",
        "",
        f"A {what} of `{config.model}` for summarizing chat conversations, trained with `recap train {config.method}`.",
        "",
        "## Use it with Recap",
        "",
        *(
            [f"    RECAP_MODEL={config.model} RECAP_ADAPTER={config.out} recap worker"]
            if config.method == "lora"
            else [f"    RECAP_MODEL={config.out} recap worker"]
        ),
        "",
        "## Prompt",
        "",
        *_prompt_lines(template),
        "",
        "## Training",
        "",
        f"- base model: `{config.model}`",
        f"- data: `{config.data}`"
        + (" (DialogSum)" if dialogsum else "")
        + f": {train['examples']} training and {validation['examples']} validation examples",
        f"- truncated: {train['truncated_inputs']} training inputs over {train['max_input_tokens']} tokens, "
        f"{train['truncated_targets']} summaries over {train['max_target_tokens']} tokens",
        f"- learning rate {config.lr}, batch size {config.batch_size}, "
        + (f"{config.max_steps} steps" if config.max_steps > 0 else f"{config.epochs} epochs")
        + f", warmup {config.warmup}, weight decay {config.weight_decay}, seed {config.seed}, "
        f"precision {metrics.get('precision')}",
        *(
            [
                f"- LoRA r {config.lora_r}, alpha {config.lora_alpha}, dropout {config.lora_dropout}, "
                f"target modules {', '.join(config.target_modules)}"
            ]
            if config.method == "lora"
            else []
        ),
        _kept_line(metrics),
        "- full arguments: `training_args.json`; data and truncation counts: `data.json`; "
        "loss per step: `loss_log.jsonl`",
        "",
        "## Validation metrics",
        "",
        f"On the {validation['examples']} validation examples, for the checkpoint kept, "
        f"{metrics.get('validation_protocol', '')}, 0-100 scale. ROUGE F-measures from `rouge_score` "
        "with stemming, corpus BLEU from `sacrebleu`; summaries generated with "
        f"{getattr(config, 'val_beams', 1)} beam(s) up to "
        f"{config.generation_max_length or config.max_target_tokens} tokens. All numbers: `metrics.json`.",
        "",
        "| ROUGE-1 | ROUGE-2 | ROUGE-L | ROUGE-Lsum | BLEU |",
        "|---|---|---|---|---|",
        "| "
        + " | ".join(f"{val.get(k, float('nan')):.2f}" for k in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu"))
        + " |",
        "",
        "## Licence",
        "",
    ]
    if dialogsum:
        lines += [
            f"Trained on DialogSum (Chen et al., Findings of ACL 2021), licensed {DIALOGSUM_LICENCE}: "
            "non-commercial use only, and anything shared that is derived from it (including these weights) "
            "must carry the same licence. The base model's own licence also applies.",
        ]
    else:
        lines += [
            f"Trained on `{config.data}`; its licence applies to these weights. If it contains DialogSum "
            f"or data derived from it, the weights fall under {DIALOGSUM_LICENCE} "
            "(non-commercial, share alike).",
        ]
    return "\n".join(lines) + "\n"
