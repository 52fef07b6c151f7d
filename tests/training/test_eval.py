"""`recap eval run|prompts|compare` with the tiny T5 through the worker's runtime."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from training.cli import eval_app
from training.data import Example
from training.evaluation import extractive_baseline
from training.prompts import make_prompt, shot_block


def _app() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(eval_app, name="eval")
    return root


def test_seed_prompt_templates() -> None:
    from worker.model.prompt import build_prompt

    shot = Example("train_1", "#Person1#: Hi.\n#Person2#: Hello.", "They greet.")
    assert shot_block(shot) == "Dialogue:\n\n#Person1#: Hi.\n#Person2#: Hello.\n\nWhat was going on?\nThey greet.\n\n\n"
    few = make_prompt("few-shot", "#Person1#: Bye.", [shot, shot])
    assert few == shot_block(shot) * 2 + "Dialogue:\n\n#Person1#: Bye.\n\nWhat was going on?\n"
    assert make_prompt("zero-shot", "#Person1#: Bye.", []) == build_prompt("#Person1#: Bye.")
    assert (
        extractive_baseline("#Person1#: Hi there.\n#Person2#: Hello.\n#Person1#: Bye.")
        == "#Person1# Hi there. #Person2# Hello."
    )


def test_eval_run_writes_predictions_and_scores(
    tmp_path: Path, tiny_model: Path, tiny_adapter: Path, dialogsum_dir: Path
) -> None:
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        _app(),
        [
            "eval",
            "run",
            "--model",
            str(tiny_model),
            "--adapter",
            str(tiny_adapter),
            "--data",
            str(dialogsum_dir),
            "--split",
            "test",
            "--limit",
            "3",
            "--max-new-tokens",
            "8",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--name",
            "tiny-lora",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["test_0", "test_1", "test_2"]
    assert rows[0]["generation"]["max_new_tokens"] == 8 and rows[0]["adapter"] == str(tiny_adapter)
    data = json.loads(result.stdout)
    assert data["n"] == 3 and data["references_per_dialogue"] == 3
    assert {
        "tiny-lora",
        "lead-2 turns (extractive baseline)",
        "human (each annotator vs the other two)",
    } == set(data["systems"])
    assert data["systems"]["human (each annotator vs the other two)"]["protocol_a"]["n"] == 18  # 3 x 3 x 2 pairs
    assert (out / "eval.md").is_file()


def test_eval_prompts_and_compare(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    out = tmp_path / "prompts"
    result = CliRunner().invoke(
        _app(),
        [
            "eval",
            "prompts",
            "--model",
            str(tiny_model),
            "--data",
            str(dialogsum_dir),
            "--split",
            "test",
            "--limit",
            "2",
            "--max-new-tokens",
            "4",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [t["template"] for t in data["templates"]] == ["zero-shot", "one-shot", "few-shot"]
    assert data["shot_ids"] == ["train_40", "train_80", "train_120"]
    tokens = [t["mean_prompt_tokens"] for t in data["templates"]]
    assert tokens[0] < tokens[1] < tokens[2]
    assert {"references", "lead-2 turns (extractive baseline)", "human (each annotator vs the other two)"} == set(
        data["context"]
    )

    systems = [f"{name}={out / f'predictions-{name}.jsonl'}" for name in ("zero-shot", "few-shot")]
    result = CliRunner().invoke(
        _app(), ["eval", "compare", *systems, "--data", str(dialogsum_dir), "--json", "--allow-empty"]
    )
    assert result.exit_code == 0, result.output
    compared = json.loads(result.stdout)
    gain = next(
        g for g in compared["improvements"]["protocol_a"] if g["system"] == "few-shot" and g["over"] == "zero-shot"
    )
    rows = compared["systems"]
    assert gain["rougeL"] == round(
        rows["few-shot"]["protocol_a"]["rougeL"] - rows["zero-shot"]["protocol_a"]["rougeL"], 2
    )


def test_bad_options_name_the_value_and_the_choices(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    runner = CliRunner()
    common = ["--model", str(tiny_model), "--data", str(dialogsum_dir), "--limit", "1"]
    cases = [
        (["eval", "run", *common, "--split", "dev", "--out", str(tmp_path / "e")], ["'dev'", "test", "validation"]),
        (["eval", "run", *common, "--device", "gpu", "--out", str(tmp_path / "e")], ["'gpu'", "auto, cpu, cuda"]),
        (["eval", "prompts", *common, "--templates", "zero,few-shot"], ["'zero'", "zero-shot-seed"]),
    ]
    for args, expected in cases:
        result = runner.invoke(_app(), args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        for text in expected:
            assert text in result.stderr, (args, result.stderr)
