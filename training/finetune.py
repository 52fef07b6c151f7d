"""Full and LoRA fine-tuning with transformers' Seq2SeqTrainer.

The output folder is what the worker loads as-is: ``RECAP_MODEL=<folder>`` after a full fine-tune,
``RECAP_ADAPTER=<folder>`` after LoRA. Next to the weights and tokenizer it holds prompt.json,
training_args.json, data.json, metrics.json, loss_log.jsonl and a model card (README.md).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from training import artifacts, recipe
from training.data import DIALOGSUM_HUB_ID, mix_in, source_kind, train_val
from training.encoding import encode

log = logging.getLogger(__name__)
Method = Literal["full", "lora"]
Precision = Literal["auto", "bf16", "fp32", "fp16"]


class TrainingConfigError(ValueError):
    """A training option cannot work; the message names the option."""


@dataclass
class TrainConfig:
    method: Method
    out: str
    model: str = "google/flan-t5-base"
    data: str = DIALOGSUM_HUB_ID
    prompt: str | None = None  # folder holding prompt.json, or the file itself
    learning_rate: float | None = None  # None: 1e-3 for LoRA (the seed's), 5e-5 for full
    batch_size: int = 8
    eval_batch_size: int | None = None
    epochs: float = 5.0  # public Flan-T5 LoRA recipes train 3-5; the best epoch is kept by validation ROUGE-L
    max_steps: int = 0  # > 0 overrides epochs
    warmup: float = 0.0  # < 1: share of the steps, >= 1: steps
    weight_decay: float = 0.01
    grad_accum: int = 1
    max_input_tokens: int = 512
    max_target_tokens: int = 128
    generation_max_length: int | None = None  # None: max_target_tokens
    train_limit: int | None = None
    val_limit: int | None = None
    val_fraction: float = 0.1  # for a single JSONL file
    seed: int = 42
    precision: Precision = "auto"
    gradient_checkpointing: bool = False
    eval_every: int = 0  # steps between validation + checkpoint; 0 = once per epoch
    logging_steps: int = 10
    lr_scheduler: str = "linear"  # any transformers SchedulerType name
    save_total_limit: int | None = 2  # checkpoints kept (the best one is never deleted)
    patience: int = 0  # > 0: stop after this many validations without a better ROUGE-L
    resume: bool = False  # continue from the newest checkpoint in <out>/trainer
    val_beams: int = 1  # beams for the validation summaries
    val_split: str = "validation"  # split of --data (a folder) used for validation and model selection
    init_adapter: str | None = None  # LoRA: continue training this adapter instead of a fresh one
    mix: list[str] = field(default_factory=list)  # PATH:WEIGHT files mixed into the training rows
    lora_r: int = 32
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q", "v"])

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 1e-3 if self.method == "lora" else 5e-5


@dataclass(frozen=True)
class TrainResult:
    out: Path
    metrics: dict[str, Any]
    seconds: float


def resolve_precision(requested: Precision, cuda: bool) -> str:
    if requested not in ("auto", "bf16", "fp32", "fp16"):
        raise TrainingConfigError(f"--precision {requested!r}: choose auto, bf16 or fp32")
    if requested == "fp16":
        raise TrainingConfigError("--precision fp16 is refused: T5 overflows in fp16. Use bf16 on a GPU, or fp32.")
    if requested == "bf16" and not cuda:
        raise TrainingConfigError("--precision bf16 needs a CUDA GPU; on CPU use fp32 (or auto).")
    if requested == "auto":
        import torch

        return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    return requested


def load_template(config: TrainConfig) -> Any:
    """The prompt: --prompt if given, else the base model's own prompt.json, else the default."""
    from worker.model.prompt import DEFAULT_PROMPT, load_prompt

    if config.prompt:
        path = Path(config.prompt).expanduser()
        return load_prompt(path.parent if path.is_file() else path)
    if (Path(config.model).expanduser() / "prompt.json").is_file():
        return load_prompt(Path(config.model).expanduser())
    return DEFAULT_PROMPT


def _build_model(config: TrainConfig) -> tuple[Any, Any]:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from worker.model.loading import load_pretrained

    # The worker's loader: local folders never touch the hub, and offline hub ids fail fast and clearly.
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, config.model, "--model", "config.json")
    model = load_pretrained(AutoModelForSeq2SeqLM.from_pretrained, config.model, "--model", "config.json")
    if config.gradient_checkpointing:
        model.config.use_cache = False
    if config.method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(
            task_type=TaskType.SEQ_2_SEQ_LM,
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules),
        )
        _check_target_modules(model, config.target_modules)
        if config.gradient_checkpointing:
            model.enable_input_require_grads()  # checkpointed frozen embeddings need a grad path
        model = _continue_adapter(model, config.init_adapter) if config.init_adapter else get_peft_model(model, lora)
    return model, tokenizer


def _continue_adapter(model: Any, folder: str) -> Any:
    """The serving adapter, trainable, as the starting point (its own r, alpha and target modules apply)."""
    from peft import PeftModel

    if not (Path(folder).expanduser() / "adapter_config.json").is_file():
        raise TrainingConfigError(f"--init-adapter {folder}: no adapter_config.json there (expected a LoRA folder)")
    return PeftModel.from_pretrained(model, str(Path(folder).expanduser()), is_trainable=True)


def _check_target_modules(model: Any, targets: list[str]) -> None:
    """Refuse a target module that matches nothing: peft only fails when none match, so a typo among
    several (``q,vv``) would silently train fewer layers than asked."""
    import torch

    names = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    linear = sorted({name.rsplit(".", 1)[-1] for name in names})
    # peft's rule for a list: a module matches a target equal to its name or to a dotted suffix of it.
    unknown = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if unknown or not targets:
        raise TrainingConfigError(
            f"--target-modules {','.join(targets) or '(empty)'}: "
            f"{', '.join(map(repr, unknown)) or 'nothing given'} matches no linear layer of {config_name(model)}; "
            f"choose from {', '.join(linear)}"
        )


def config_name(model: Any) -> str:
    return str(getattr(model.config, "_name_or_path", "") or type(model).__name__)


def _compute_metrics(tokenizer: Any, references: list[str]) -> Any:
    """Scores generated validation summaries against the full reference texts (not the cut labels)."""
    import numpy as np

    from training.metrics import mean_words, protocol_a

    def compute(prediction: Any) -> dict[str, float]:
        preds = np.where(prediction.predictions < 0, tokenizer.pad_token_id, prediction.predictions)
        texts = [t.strip() for t in tokenizer.batch_decode(preds, skip_special_tokens=True)]
        # The eval loader keeps dataset order; one reference per validation dialogue, so A and C coincide.
        scores = protocol_a(texts, [[ref] for ref in references[: len(texts)]]).as_dict()
        scores.pop("n")
        return {**{k: round(v, 4) for k, v in scores.items()}, "gen_words": round(mean_words(texts), 2)}

    return compute


def _check(config: TrainConfig) -> None:
    if config.method not in ("full", "lora"):
        raise TrainingConfigError(f"method must be full or lora, not {config.method!r}")
    if config.init_adapter and config.method != "lora":
        raise TrainingConfigError("--init-adapter continues a LoRA adapter; use it with `recap train lora`")
    if config.resume and recipe.last_checkpoint(config) is None:
        raise TrainingConfigError(f"--resume: no checkpoint in {Path(config.out) / 'trainer'} to continue from")
    if config.patience < 0 or config.val_beams < 1 or config.grad_accum < 1:
        raise TrainingConfigError("--patience must be >= 0, --val-beams and --grad-accum >= 1")


def _rows(config: TrainConfig) -> tuple[list[Any], list[Any], dict[str, Any]]:
    train_rows, val_rows = train_val(
        config.data,
        train_limit=config.train_limit,
        val_limit=config.val_limit,
        val_fraction=config.val_fraction,
        seed=config.seed,
        val_split=config.val_split,
    )
    mixed = mix_in(train_rows, config.mix, seed=config.seed)
    return mixed.rows, val_rows, mixed.counts


def _trainer(config: TrainConfig, precision: str, cuda: bool, template: Any, out: Path) -> tuple[Any, dict]:
    from transformers import DataCollatorForSeq2Seq

    train_rows, val_rows, mix_counts = _rows(config)
    model, tokenizer = _build_model(config)
    lengths = {"max_input_tokens": config.max_input_tokens, "max_target_tokens": config.max_target_tokens}
    train_set, train_stats = encode(train_rows, tokenizer, template, **lengths)
    val_set, val_stats = encode(val_rows, tokenizer, template, **lengths)
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, pad_to_multiple_of=8)
    trainer = recipe.RecapTrainer(
        model=model,
        args=recipe.training_args(config, precision, cuda),
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=_compute_metrics(tokenizer, [row.summary for row in val_rows]),
        callbacks=recipe.callbacks(config, template, out / "loss_log.jsonl"),
    )
    if trainer.is_world_process_zero():
        log.info("training on %d examples (%d inputs cut), validating on %d", len(train_rows),
                 train_stats.truncated_inputs, len(val_rows))
    data = {
        "source": config.data,
        "validation_split": config.val_split if source_kind(config.data) != "file" else "held out of the file",
        "mix": mix_counts,
        "train": train_stats.as_dict(),
        "validation": val_stats.as_dict(),
        "train_ids": [row.id for row in train_rows][:1000],
    }
    return trainer, data


def train(config: TrainConfig, extra_callbacks: list[Any] | None = None) -> TrainResult:
    """Fine-tune with per-epoch checkpoints, keep the best by validation ROUGE-L, write a folder the worker
    loads as-is. ``extra_callbacks`` are transformers ``TrainerCallback`` objects (Python API only)."""
    import torch
    from transformers import set_seed

    cuda = torch.cuda.is_available()
    precision = resolve_precision(config.precision, cuda)
    _check(config)
    set_seed(config.seed)
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    template = load_template(config)
    trainer, data = _trainer(config, precision, cuda, template, out)
    for callback in extra_callbacks or []:
        trainer.add_callback(callback)
    started = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=recipe.last_checkpoint(config) if config.resume else None)
    validation = _final_evaluation(trainer)
    seconds = time.perf_counter() - started
    metrics = {
        "validation": validation,
        "validation_protocol": "single reference per dialogue (protocols A and C coincide)",
        "best_checkpoint": _relative(trainer.state.best_model_checkpoint, out),
        "best_step": _step_of(trainer.state.best_model_checkpoint),
        "global_step": trainer.state.global_step,
        "stopped_early": trainer.state.global_step < trainer.state.max_steps,
        "history": recipe.epoch_history(trainer),
        "train": dict(train_output.metrics),
        "seconds": round(seconds, 2),
        "precision": precision,
    }
    if trainer.is_world_process_zero():
        _save(trainer, trainer.processing_class, out, config)
        artifacts.write_outputs(
            out,
            config=config,
            template=template,
            metrics=metrics,
            data=data,
            training_args=json.loads(trainer.args.to_json_string()) | {"recap": asdict(config)},
        )
    return TrainResult(out=out, metrics=metrics, seconds=seconds)


def _relative(path: str | None, out: Path) -> str | None:
    return str(Path(path).relative_to(out)) if path and Path(path).is_relative_to(out) else path


def _step_of(path: str | None) -> int | None:
    return int(path.rsplit("-", 1)[-1]) if path and path.rsplit("-", 1)[-1].isdigit() else None


def _final_evaluation(trainer: Any) -> dict[str, Any]:
    """The validation scores of the model kept (the best checkpoint), as recorded when it was scored."""
    best = _step_of(trainer.state.best_model_checkpoint)
    scored = [e for e in trainer.state.log_history if "eval_loss" in e]
    chosen = next((e for e in scored if e.get("step") == best), None)
    if chosen is None:  # no checkpoint was scored (e.g. fewer steps than one evaluation interval)
        chosen = trainer.evaluate()
    return {k.removeprefix("eval_"): v for k, v in chosen.items() if k.startswith("eval_")}


def _save(trainer: Any, tokenizer: Any, out: Path, config: TrainConfig) -> None:
    model = trainer.model
    if config.gradient_checkpointing:
        base = model.get_base_model() if config.method == "lora" else model
        base.config.use_cache = True  # the worker generates with the cache on
    model.save_pretrained(out)  # adapter only for peft models, full weights otherwise
    tokenizer.save_pretrained(out)
