"""The training recipe: Seq2SeqTrainingArguments, the trainer subclass and the callbacks around it.

Checkpoints are written every epoch (or every ``eval_every`` steps), each scored on validation with
generated summaries; the best by ROUGE-L is loaded at the end. Only the main process writes files and
logs under ``torchrun`` / accelerate (``trainer.is_world_process_zero()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import Seq2SeqTrainer, TrainerCallback

BEST_METRIC = "rougeL"


def training_args(config: Any, precision: str, cuda: bool) -> Any:
    from transformers import Seq2SeqTrainingArguments

    per_epoch = config.eval_every <= 0
    strategy = "epoch" if per_epoch else "steps"
    return Seq2SeqTrainingArguments(
        output_dir=str(Path(config.out) / "trainer"),
        learning_rate=config.lr,
        lr_scheduler_type=config.lr_scheduler,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size or config.batch_size,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps if config.max_steps > 0 else -1,
        warmup_steps=config.warmup,
        weight_decay=config.weight_decay,
        gradient_accumulation_steps=config.grad_accum,
        activation_checkpointing=config.gradient_checkpointing,
        bf16=precision == "bf16",
        use_cpu=not cuda,
        eval_strategy=strategy,
        eval_steps=None if per_epoch else config.eval_every,
        save_strategy=strategy,
        save_steps=None if per_epoch else config.eval_every,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=BEST_METRIC,
        greater_is_better=True,
        # Without an explicit length, generate() stops at 20 tokens and ROUGE looks far worse than it is.
        predict_with_generate=True,
        generation_max_length=config.generation_max_length or config.max_target_tokens,
        generation_num_beams=config.val_beams,
        # Batches of similar lengths: far less padding on a GPU (the eval order stays sequential below).
        train_sampling_strategy="group_by_length",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        dataloader_num_workers=0,
    )


class RecapTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer whose validation keeps dataset order even when training batches are length-grouped,
    so generated summaries line up with the full reference texts in ``compute_metrics``."""

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        from torch.utils.data import SequentialSampler

        if self.args.world_size <= 1:
            return SequentialSampler(eval_dataset)
        return None  # accelerate shards in order and gathers back in order


class PromptSaver(TrainerCallback):
    """Writes prompt.json into every checkpoint, so a checkpoint is served with the prompt it learnt."""

    def __init__(self, template: Any) -> None:
        self.template = template

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from worker.model.prompt import save_prompt

        if state.is_world_process_zero:
            save_prompt(self.template, Path(args.output_dir) / f"checkpoint-{state.global_step}")


def callbacks(config: Any, template: Any, loss_log: Path) -> list[Any]:
    from transformers import EarlyStoppingCallback

    from training.artifacts import LossLogger

    chosen: list[Any] = [LossLogger(loss_log, fresh=not config.resume), PromptSaver(template)]
    if config.patience > 0:
        chosen.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    return chosen


def last_checkpoint(config: Any) -> str | None:
    """The newest checkpoint folder of this output, for ``--resume``."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(config.out).expanduser() / "trainer"
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def epoch_history(trainer: Any) -> list[dict[str, Any]]:
    """One row per validation: step, epoch and the scores, for metrics.json and the model card."""
    return [
        {"step": e["step"], "epoch": e.get("epoch"), **{k.removeprefix("eval_"): v for k, v in e.items()
                                                         if k.startswith("eval_") and not k.endswith("_second")}}
        for e in trainer.state.log_history
        if "eval_loss" in e
    ]
