"""The training recipe on the tiny T5 and 200 DialogSum rows: best epoch kept, resume, early stopping,
truncation that keeps the prompt's cue. Each run takes a few seconds (tiny model, 64/16-token windows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback

from recap import cli
from training.finetune import TrainConfig, train

# 180 training + 20 validation rows of DialogSum, 9 steps an epoch, 64/16-token windows.
SLICE = ["--train-limit", "180", "--val-limit", "20", "--batch-size", "20", "--max-input-tokens", "64",
         "--max-target-tokens", "16", "--logging-steps", "3", "--save-total-limit", "3"]
SMALL = dict(train_limit=180, val_limit=20, batch_size=20, max_input_tokens=64, max_target_tokens=16,
             logging_steps=3, save_total_limit=3, lr_scheduler="constant")


class SpoilAfterFirstEpoch(TrainerCallback):
    """A tiny learning-rate schedule that makes epoch 1 clearly best: 1e-2 for the first epoch, then 1e4,
    which turns the weights to NaN (empty summaries, ROUGE-L 0) in every later epoch."""

    def on_epoch_end(self, args, state, control, lr_scheduler=None, **kwargs):  # noqa: ANN001, ANN201
        if round(state.epoch) == 1:
            lr_scheduler.base_lrs = [1e4] * len(lr_scheduler.base_lrs)


def _lora(out: Path, model: Path, data: Path, *extra: str) -> None:
    try:
        cli.main(["train", "lora", "--out", str(out), "--model", str(model), "--data", str(data), *SLICE, *extra])
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"exit status {exit_.code}"


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def _config(out: Path, model: Path, data: Path, **extra: object) -> TrainConfig:
    return TrainConfig(method="lora", out=str(out), model=str(model), data=str(data), learning_rate=1e-2,
                       **{**SMALL, **extra})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, dialogsum_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("recipe") / "lora"
    train(_config(out, tiny_model, dialogsum_dir, epochs=3), extra_callbacks=[SpoilAfterFirstEpoch()])
    return out


@pytest.mark.slow
def test_best_epoch_by_validation_rouge_l_is_kept(three_epochs: Path) -> None:
    metrics = _metrics(three_epochs)
    history = {row["step"]: row["rougeL"] for row in metrics["history"]}
    assert sorted(history) == [9, 18, 27]  # one validation + checkpoint per epoch
    assert history[9] > 1 and history[18] == history[27] == 0, history
    assert metrics["best_step"] == 9 and metrics["best_checkpoint"] == "trainer/checkpoint-9"
    assert metrics["validation"]["rougeL"] == history[9] and metrics["global_step"] == 27
    # The adapter saved for serving is epoch 1's checkpoint, not the spoilt last epoch's.
    served = load_file(three_epochs / "adapter_model.safetensors")
    for step, same in ((9, True), (27, False)):
        checkpoint = load_file(three_epochs / "trainer" / f"checkpoint-{step}" / "adapter_model.safetensors")
        assert all(served[k].equal(checkpoint[k]) for k in served) is same
    assert not any(t.isnan().any() for t in served.values())
    for step in (9, 18, 27):  # the prompt style travels with every checkpoint
        prompt = json.loads((three_epochs / "trainer" / f"checkpoint-{step}" / "prompt.json").read_text())
        assert prompt["version"] == json.loads((three_epochs / "prompt.json").read_text())["version"]
    args = json.loads((three_epochs / "training_args.json").read_text())
    assert args["metric_for_best_model"] == "rougeL" and args["load_best_model_at_end"] is True
    assert args["train_sampling_strategy"] == "group_by_length" and args["save_strategy"] == "epoch"
    assert "step 9 of 27" in (three_epochs / "README.md").read_text()


class CrashAfterFirstSave(TrainerCallback):
    """Stands in for a power cut: the process dies right after the first checkpoint is on disk."""

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - transformers' callback signature
        raise KeyboardInterrupt


@pytest.mark.slow
def test_resume_continues_from_the_checkpoint(
    tmp_path: Path, tiny_model: Path, dialogsum_dir: Path, three_epochs: Path
) -> None:
    out = tmp_path / "lora"
    with pytest.raises(KeyboardInterrupt):
        train(_config(out, tiny_model, dialogsum_dir, epochs=3), extra_callbacks=[CrashAfterFirstSave()])
    assert [p.name for p in (out / "trainer").iterdir()] == ["checkpoint-9"] and not (out / "metrics.json").exists()

    _lora(out, tiny_model, dialogsum_dir, "--lr", "1e-2", "--lr-scheduler", "constant", "--epochs", "3", "--resume")
    metrics = _metrics(out)
    assert metrics["global_step"] == _metrics(three_epochs)["global_step"] == 27
    assert [row["step"] for row in metrics["history"]] == [9, 18, 27]  # epoch 1's score came from the checkpoint
    assert metrics["train"]["train_runtime"] < 60
    logged = [json.loads(line)["step"] for line in (out / "loss_log.jsonl").read_text().splitlines()]
    assert min(logged) <= 9 < max(logged) == 27  # the first attempt's log was kept and continued


def test_resume_without_a_checkpoint_says_so(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "lora", "--out", str(tmp_path / "x"), "--model", str(tiny_model), "--data",
                  str(dialogsum_dir), "--resume"])
    assert exit_.value.code == 2


@pytest.mark.slow
def test_early_stopping_stops(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    out = tmp_path / "lora"
    train(_config(out, tiny_model, dialogsum_dir, epochs=5, patience=1), extra_callbacks=[SpoilAfterFirstEpoch()])
    metrics = _metrics(out)
    # Epoch 2 is worse than epoch 1: with patience 1 training stops there, three epochs short of five.
    assert metrics["stopped_early"] is True and metrics["global_step"] == 18 and metrics["best_step"] == 9
    assert [row["step"] for row in metrics["history"]] == [9, 18]


def test_truncation_cuts_the_dialogue_and_keeps_the_summary_cue(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from training.data import Example
    from training.encoding import encode
    from worker.model.prompt import DEFAULT_PROMPT

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    long = "\n".join(f"#Person{1 + i % 2}#: I will bring item number {i} to the picnic." for i in range(60))
    short = "#Person1#: Lunch?\n#Person2#: Yes."
    rows = [Example("long", long, "They plan a picnic."), Example("short", short, "They agree to lunch.")]
    dataset, stats = encode(rows, tokenizer, DEFAULT_PROMPT, max_input_tokens=64, max_target_tokens=16)
    cut, whole = (tokenizer.decode(ids, skip_special_tokens=True) for ids in dataset["input_ids"])
    assert len(dataset["input_ids"][0]) == 64 and stats.truncated_inputs == 1
    assert cut.startswith("Summarize the following conversation.") and cut.rstrip().endswith("Summary:")
    assert "item number 0 " in cut and "item number 59" not in cut  # the dialogue's tail was cut
    assert dataset["input_ids"][1] == tokenizer(DEFAULT_PROMPT.render(short))["input_ids"]
    assert whole.rstrip().endswith("Summary:")
