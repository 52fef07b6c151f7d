"""Every train/eval/report command's success path through the real entry point exits 0, and the README's
export-then-train chain runs in a shell: a command's return value (a row count) is never its exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store import Store
from recap import cli

TINY_RUN = ["--max-input-tokens", "48", "--max-target-tokens", "8", "--batch-size", "4", "--logging-steps", "1"]


def _exit(argv: list[str]) -> int:
    try:
        cli.main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def _shared_feedback(url: str, count: int) -> None:
    """``count`` distinct 👍 dialogues in a workspace that opted in to sharing."""
    store = Store(url)
    store.set_sharing("slack", "T1", True)
    for n in range(count):
        sid = store.record_summary(request_id=f"r{n}", platform="slack", workspace="T1", channel="C1",
                                   model="m", prompt_version="summarize-v1@x",
                                   text=f"#Person1# asks about item {n}.", latency_ms=10)
        assert store.keep_dialogue(sid, "slack", "T1", f"#Person1#: Where is item {n}?\n#Person2#: On the desk.")
        store.record_vote(sid, "u1", 1)


@pytest.mark.slow
def test_readme_export_then_train_chain(tmp_path: Path, tiny_model: Path) -> None:
    url = f"sqlite:///{tmp_path / 'recap.db'}"
    _shared_feedback(url, 8)  # 8 rows used to give exit status 8, so `&&` never reached training
    recap = f"{sys.executable} -m recap"
    chain = (
        f"{recap} train export-feedback --out f.jsonl --store-url {url} --min-rows 8 && "
        f"{recap} train lora --data f.jsonl --model {tiny_model} --out adapter --max-steps 2 "
        + " ".join(TINY_RUN)
    )
    done = subprocess.run(chain, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Wrote 8 examples" in done.stdout and f"Read the store at {url}" in done.stdout
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    data = json.loads((tmp_path / "adapter" / "data.json").read_text())
    assert data["train"]["examples"] + data["validation"]["examples"] == 8


def test_export_below_the_minimum_stops_the_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'recap.db'}"
    _shared_feedback(url, 3)
    recap = f"{sys.executable} -m recap"
    chain = f"{recap} train export-feedback --out f.jsonl --store-url {url} && echo trained"
    done = subprocess.run(chain, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RECAP_EXPORT_MIN_ROWS": "5"})
    assert done.returncode == 2 and "trained" not in done.stdout
    assert "only 3 distinct" in done.stderr and "at least 5" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "f.jsonl").exists()


@pytest.mark.slow
def test_train_commands_exit_zero(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    common = ["--model", str(tiny_model), "--data", str(dialogsum_dir), "--train-limit", "8", "--val-limit", "2",
              "--max-steps", "2", *TINY_RUN]
    assert _exit(["train", "full", "--out", str(tmp_path / "full"), *common]) == 0
    assert _exit(["train", "lora", "--out", str(tmp_path / "lora"), *common]) == 0
    # Continue the adapter just trained, with DialogSum rows mixed in twice over (the feedback loop).
    mixed = tmp_path / "mix.jsonl"
    mixed.write_text("".join(json.dumps({"dialogue": f"#Person1#: Hi {n}.", "summary": f"A greeting {n}."}) + "\n"
                             for n in range(3)))
    assert _exit(["train", "lora", "--out", str(tmp_path / "again"), *common, "--init-adapter",
                  str(tmp_path / "lora"), "--mix", f"{mixed}:2"]) == 0
    data = json.loads((tmp_path / "again" / "data.json").read_text())
    assert data["mix"]["base"] == 8 and data["mix"][str(mixed)] == {"rows": 3, "weight": 2.0, "used": 6}
    assert data["train"]["examples"] == 14 and data["validation_split"] == "validation"
    config = tmp_path / "sweep.toml"
    config.write_text(f'method = "lora"\n[base]\nmodel = "{tiny_model}"\ndata = "{dialogsum_dir}"\nmax_steps = 1\n'
                      "batch_size = 4\ntrain_limit = 4\nval_limit = 1\nmax_input_tokens = 48\nmax_target_tokens = 8\n"
                      "[grid]\nlr = [1e-3]\n")
    assert _exit(["train", "sweep", str(config), "--out", str(tmp_path / "sweep")]) == 0


def test_eval_and_report_commands_exit_zero(tmp_path: Path, tiny_model: Path, dialogsum_dir: Path) -> None:
    data = ["--data", str(dialogsum_dir)]
    gen = ["--model", str(tiny_model), "--max-new-tokens", "4", "--device", "cpu"]
    assert _exit(["eval", "run", *gen, *data, "--limit", "3", "--out", str(tmp_path / "run"), "--num-beams", "2",
                  "--length-penalty", "0.8", "--no-repeat-ngram-size", "3", "--min-new-tokens", "2"]) == 0
    predictions = tmp_path / "run" / "predictions.jsonl"
    row = json.loads(predictions.read_text().splitlines()[0])
    assert row["backend"] == "transformers" and row["adapter"] is None
    assert {k: row["generation"][k] for k in ("num_beams", "length_penalty", "no_repeat_ngram_size",
                                              "min_new_tokens", "max_new_tokens")} == {
        "num_beams": 2, "length_penalty": 0.8, "no_repeat_ngram_size": 3, "min_new_tokens": 2, "max_new_tokens": 4}
    references = tmp_path / "refs.jsonl"
    references.write_text("".join((dialogsum_dir / "test.jsonl").read_text().splitlines(keepends=True)[:3]))
    assert _exit(["eval", "score", "--predictions", str(predictions), "--references", str(references),
                  "--allow-empty"]) == 0
    assert _exit(["eval", "compare", f"a={predictions}", f"b={predictions}", *data, "--allow-empty"]) == 0
    assert _exit(["eval", "prompts", *gen, *data, "--limit", "2", "--out", str(tmp_path / "prompts")]) == 0
    assert _exit(["eval", "gate", "--candidate", str(predictions), "--baseline", str(predictions), *data,
                  "--limit", "3", "--samples", "50"]) == 0
    assert _exit(["eval", "tune-generation", *gen[:2], *data, "--limit", "2", "--beams", "1", "--max-new-tokens",
                  "4", "--no-repeat-ngram", "0", "--device", "cpu", "--out", str(tmp_path / "tuned")]) == 0
    Store(f"sqlite:///{tmp_path / 'r.db'}")  # an existing, empty store
    assert _exit(["report", "--out", str(tmp_path / "report"), "--system", f"tiny={predictions}", *data,
                  "--prompts", str(tmp_path / "prompts"), "--store-url", f"sqlite:///{tmp_path / 'r.db'}"]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    for text in ("## Systems", "## How it was scored", "nrefs:1|case:mixed", "## Prompt experiment",
                 "published: seed LoRA | 40.81", "ROUGE-Lsum (split sentences)", str(tiny_model)):
        assert text in report, text
