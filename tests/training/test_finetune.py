"""`recap train lora|full` on a tiny T5 and a small DialogSum slice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from training.cli import full, train_app
from training.finetune import TrainConfig, TrainingConfigError, train

# Short lengths and one evaluation at the end keep these runs to seconds on a shared CPU.
SLICE = [
    "--train-limit",
    "32",
    "--val-limit",
    "4",
    "--max-input-tokens",
    "64",
    "--max-target-tokens",
    "16",
    "--eval-every",
    "10000",
    "--logging-steps",
    "1",
    "--batch-size",
    "8",
]


def _app() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(train_app, name="train")
    return root


def _losses(folder: Path) -> list[float]:
    rows = [json.loads(line) for line in (folder / "loss_log.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if "loss" in row]


@pytest.mark.slow
def test_train_lora_loss_falls_and_adapter_loads(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    from worker.model.prompt import DEFAULT_PROMPT
    from worker.model.runtime import GenerationSettings, TransformersRuntime

    out = tmp_path / "lora"
    result = CliRunner().invoke(
        _app(),
        [
            "train",
            "lora",
            "--out",
            str(out),
            "--model",
            str(tiny_model),
            "--data",
            str(dialogsum_dir),
            "--lr",
            "1e-2",
            "--max-steps",
            "24",
            "--r",
            "8",
            "--alpha",
            "32",
            *SLICE,
        ],
    )
    assert result.exit_code == 0, result.output
    losses = _losses(out)
    assert len(losses) >= 20
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2, losses

    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "prompt.json",
        "README.md",
        "training_args.json",
        "data.json",
        "metrics.json",
        "tokenizer.json",
    ):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    assert "CC BY-NC-SA 4.0" in card and "license: cc-by-nc-sa-4.0" in card and "non-commercial" in card
    assert f"base_model: {tiny_model}" in card and f"- base model: `{tiny_model}`" in card
    assert f"- data: `{dialogsum_dir}` (DialogSum): 32 training and 4 validation examples" in card
    assert DEFAULT_PROMPT.version in card and "    Summarize the following conversation." in card
    assert "LoRA r 8, alpha 32, dropout 0.05, target modules q, v" in card and "learning rate 0.01" in card
    data = json.loads((out / "data.json").read_text())
    assert data["train"]["examples"] == 32 and data["train"]["truncated_inputs"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"rouge1", "rougeL", "bleu"} <= set(metrics["validation"])
    val = metrics["validation"]
    row = " | ".join(f"{val[k]:.2f}" for k in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu"))
    assert f"| {row} |" in card  # the card shows the final validation metrics
    args = json.loads((out / "training_args.json").read_text())
    assert args["generation_max_length"] == 16 and args["predict_with_generate"] is True
    assert args["recap"]["lora_r"] == 8 and args["recap"]["target_modules"] == ["q", "v"]

    dialogues = [
        "#Person1#: Shall we meet for lunch at noon?\n#Person2#: Yes, see you at the cafe.",
        "#Person1#: Did you finish the report?\n#Person2#: Not yet, I need one more day.",
    ]
    settings = GenerationSettings(max_new_tokens=12)
    base = TransformersRuntime(str(tiny_model), device="cpu", generation=settings)
    tuned = TransformersRuntime(str(tiny_model), str(out), device="cpu", generation=settings)
    assert tuned.prompt.version == DEFAULT_PROMPT.version
    assert tuned.summarize_batch(dialogues) != base.summarize_batch(dialogues)


@pytest.mark.slow
def test_train_full_end_to_end(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    from worker.model.runtime import GenerationSettings, TransformersRuntime

    out = full(
        out=tmp_path / "full",
        model=str(tiny_model),
        data=str(dialogsum_dir),
        lr=1e-3,
        batch_size=8,
        max_steps=4,
        train_limit=32,
        val_limit=4,
        max_input_tokens=64,
        max_target_tokens=16,
        eval_every=10000,
        logging_steps=1,
    )
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "prompt.json",
        "README.md",
        "metrics.json",
        "loss_log.jsonl",
    ):
        assert (out / name).is_file(), name
    assert len(_losses(out)) == 4
    runtime = TransformersRuntime(str(out), device="cpu", generation=GenerationSettings(max_new_tokens=6))
    assert len(runtime.summarize_batch(["#Person1#: Hi.\n#Person2#: Hello."])) == 1


def test_fp16_is_refused(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    config = TrainConfig(
        method="lora",
        out=str(tmp_path / "x"),
        model=str(tiny_model),
        data=str(dialogsum_dir),
        precision="fp16",
    )
    with pytest.raises(TrainingConfigError, match="fp16"):
        train(config)


def test_unreachable_hub_names_the_data_option(tmp_path: Path, tiny_model: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        [
            "train",
            "lora",
            "--out",
            str(tmp_path / "x"),
            "--model",
            str(tiny_model),
            "--data",
            "knkarthick/dialogsum",
        ],
    )
    assert result.exit_code == 2
    assert "--data" in result.stderr and "knkarthick/dialogsum" in result.stderr


def test_custom_jsonl_missing_summary_is_reported(tmp_path: Path, tiny_model: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dialogue": "#Person1#: hi", "summary": "greeting"}\n{"dialogue": "#Person1#: yo"}\n')
    result = CliRunner().invoke(
        _app(),
        ["train", "lora", "--out", str(tmp_path / "x"), "--model", str(tiny_model), "--data", str(bad)],
    )
    assert result.exit_code == 2 and "row 2" in result.stderr and "summary" in result.stderr


def test_lora_defaults_are_the_seeds() -> None:
    import inspect

    from training.cli import lora

    params = inspect.signature(lora).parameters
    defaults = {name: params[name].default for name in ("r", "alpha", "dropout", "target_modules", "lr")}
    assert defaults == {"r": 32, "alpha": 32, "dropout": 0.05, "target_modules": "q,v", "lr": None}
    config = TrainConfig(method="lora", out="x")
    assert (config.lr, config.lora_r, config.lora_alpha, config.lora_dropout, config.target_modules) == (
        1e-3,
        32,
        32,
        0.05,
        ["q", "v"],
    )
    assert TrainConfig(method="full", out="x").lr == 5e-5


def test_unknown_target_module_is_refused(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["train", "lora", "--out", str(tmp_path / "x"), "--model", str(tiny_model), "--data", str(dialogsum_dir),
         "--train-limit", "2", "--val-limit", "1", "--target-modules", "q,vv"],
    )
    assert result.exit_code == 2, result.output
    assert "--target-modules q,vv" in result.stderr and "'vv'" in result.stderr
    assert "choose from" in result.stderr and " v," in result.stderr and not (tmp_path / "x" / "README.md").exists()
