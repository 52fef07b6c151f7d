"""A 2x2 sweep of tiny runs: four run folders with records, a summary table, and a report with its curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import train_app


@pytest.mark.slow
def test_sweep_2x2_records_and_summary(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text(f"""
method = "lora"
[base]
model = "{tiny_model}"
data = "{dialogsum_dir}"
max_steps = 2
batch_size = 4
train_limit = 8
val_limit = 2
max_input_tokens = 48
max_target_tokens = 8
eval_every = 10000
logging_steps = 1
[grid]
lr = [1e-3, 1e-2]
r = [4, 8]
""")
    out = tmp_path / "sweep"
    result = CliRunner().invoke(train_app, ["sweep", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(runs) == 4
    for run in runs:
        record = json.loads((run / "record.json").read_text())
        assert record["status"] == "ok", record.get("error")
        assert set(record["params"]) == {"learning_rate", "lora_r"}
        assert record["config"]["lora_r"] == record["params"]["lora_r"]
        assert "rougeL" in record["metrics"] and record["seconds"] > 0 and record["peak_memory_mb"] > 0
        assert (run / "adapter_config.json").is_file() and (run / "loss_log.jsonl").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["runs"]) == 4
    # Highest ROUGE-L; among equal ROUGE-L (usual for 2-step tiny runs) the lowest validation loss.
    top = max(r["metrics"]["rougeL"] for r in summary["runs"])
    best = min((r for r in summary["runs"] if r["metrics"]["rougeL"] == top), key=lambda r: r["metrics"]["loss"])
    assert summary["best"] == best["name"] and summary["best_by"] == "validation rougeL"
    table = (out / "summary.md").read_text()
    assert sum(line.startswith("| ") and "run-00" in line for line in table.splitlines()) == 4
    assert f"**{summary['best']}**" in table and "peak MB" in table

    from training.cli import report_command

    html_path = report_command(out=tmp_path / "report", sweep=[out], store=False)
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == 3  # ROUGE-L vs lr, vs r, loss curves
    assert "Sweep" in (tmp_path / "report" / "report.md").read_text()


def test_unknown_sweep_option_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[grid]\nlearning_rat = [1e-3]\n")
    result = CliRunner().invoke(train_app, ["sweep", str(config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "learning_rat" in result.stderr


def test_best_run_breaks_rouge_ties_by_validation_loss() -> None:
    from training.sweep import pick_best

    runs = [
        {"name": "a", "status": "ok", "metrics": {"rougeL": 10.0, "loss": 3.0}},
        {"name": "b", "status": "ok", "metrics": {"rougeL": 10.0, "loss": 2.5}},
        {"name": "c", "status": "ok", "metrics": {"rougeL": 9.0, "loss": 1.0}},
        {"name": "d", "status": "failed", "metrics": {}},
    ]
    assert pick_best(runs) == "b"
    assert pick_best(runs[::-1]) == "b"  # independent of grid order
    runs[2]["metrics"]["rougeL"] = 11.0
    assert pick_best(runs) == "c"  # ROUGE-L decides first
    assert pick_best([runs[3]]) is None
