"""Bootstrap intervals and `recap eval gate` on prediction files built from DialogSum's test references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recap import cli
from training import bootstrap
from training.data import load_split
from training.evaluation import compare


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        cli.main(argv)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _copy_words(examples: list, words: int, path: Path) -> Path:
    """A system that copies the first ``words`` words of each dialogue's first reference."""
    rows = [{"id": e.id, "prediction": " ".join(e.summary.split()[:words])} for e in examples]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, dialogsum_dir: Path) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("gate")
    test = load_split(str(dialogsum_dir), "test", 120)
    return _copy_words(test, 12, folder / "more.jsonl"), _copy_words(test, 4, folder / "less.jsonl")


def test_gate_passes_the_better_candidate_and_fails_the_worse(
    files: tuple[Path, Path], dialogsum_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    more, less = files
    common = ["--data", str(dialogsum_dir), "--limit", "120", "--samples", "300"]
    code, out, _ = _run(["eval", "gate", "--candidate", str(more), "--baseline", str(less), *common,
                         "--out", str(tmp_path)], capsys)
    assert code == 0
    result = json.loads((tmp_path / "gate.json").read_text())
    rouge_l = result["difference"]["protocol_a"]["rougeL"]
    assert result["verdict"] == "better" and result["n"] == 120
    assert rouge_l["estimate"] > 0 and rouge_l["low"] > 0 and rouge_l["low"] < rouge_l["estimate"] < rouge_l["high"]
    assert f"{rouge_l['estimate']:+.2f} [{rouge_l['low']:+.2f}, {rouge_l['high']:+.2f}] -> better" in out

    code, out, err = _run(["eval", "gate", "--candidate", str(less), "--baseline", str(more), *common], capsys)
    assert code == 1 and "-> worse" in out and "keep the baseline" in err and "Traceback" not in err


def test_the_gate_file_registers_an_adapter(
    files: tuple[Path, Path], dialogsum_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's loop: `recap eval gate --out` writes gate.json, `recap adapters add --gate` takes it."""
    from bot.adapters.gate import load_gate_file

    more, less = files
    code, _, _ = _run(["eval", "gate", "--candidate", str(more), "--baseline", str(less), "--data",
                       str(dialogsum_dir), "--limit", "120", "--samples", "200", "--out", str(tmp_path)], capsys)
    assert code == 0
    result = json.loads((tmp_path / "gate.json").read_text())
    gate = load_gate_file(tmp_path / "gate.json")
    chosen = result["difference"]["protocol_a"]["rougeL"]
    assert gate.metric == "rougeL" and gate.score == result["score"] > result["baseline_score"]
    assert (gate.difference, gate.low, gate.high) == (chosen["estimate"], chosen["low"], chosen["high"])


def test_gate_refuses_systems_on_different_dialogues(
    files: tuple[Path, Path], dialogsum_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    more, _ = files
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(more.read_text().splitlines(keepends=True)[:50]))
    code, _, err = _run(["eval", "gate", "--candidate", str(fewer), "--baseline", str(more), "--data",
                         str(dialogsum_dir), "--limit", "120"], capsys)
    assert code == 2 and "same dialogues" in err and "Traceback" not in err


def test_bootstrap_is_reproducible_and_self_difference_is_zero(dialogsum_dir: Path) -> None:
    test = load_split(str(dialogsum_dir), "test", 60)
    refs = [list(e.all_references) for e in test]
    stats = bootstrap.system_stats([" ".join(e.summary.split()[:8]) for e in test], refs)
    first = bootstrap.intervals(stats, bootstrap.resamples(stats.n, 200, seed=7))
    again = bootstrap.intervals(stats, bootstrap.resamples(stats.n, 200, seed=7))
    other = bootstrap.intervals(stats, bootstrap.resamples(stats.n, 200, seed=8))
    assert first == again and first != other
    for protocol in bootstrap.PROTOCOLS:
        for metric in bootstrap.METRICS:
            iv = first[protocol][metric]
            assert iv.low < iv.estimate < iv.high, (protocol, metric, iv)
    same = bootstrap.paired(stats, stats, bootstrap.resamples(stats.n, 200, seed=7))
    assert all(iv == bootstrap.Interval(0.0, 0.0, 0.0) for row in same.values() for iv in row.values())


def test_compare_gives_each_improvement_once_with_intervals(files: tuple[Path, Path], dialogsum_dir: Path) -> None:
    from training.scoring import read_predictions

    more, less = files
    result = compare({"less": read_predictions(less), "more": read_predictions(more)},
                     load_split(str(dialogsum_dir), "test", 120), samples=200)
    pairs = [(g["system"], g["over"]) for g in result["improvements"]["protocol_a"]]
    lead = "lead-2 turns (extractive baseline)"
    assert pairs == [("more", "less"), ("less", lead), ("more", lead)]  # never both signs of one pair
    gain = result["improvements"]["protocol_a"][0]
    assert gain["rougeL"] > 0 and gain["intervals"]["rougeL"]["low"] > 0
    row = result["systems"]["more"]
    assert row["intervals"]["protocol_c"]["bleu"]["low"] < row["protocol_c"]["bleu"] < row["intervals"][
        "protocol_c"]["bleu"]["high"]
    assert result["published"] == {"published: seed zero-shot": 23.34, "published: seed full fine-tune": 42.16,
                                   "published: seed LoRA": 40.81}


def test_rouge_lsum_splits_sentences() -> None:
    from training.metrics import rouge_pair

    swapped = rouge_pair("Tom buys milk. He goes home.", "He goes home. Tom buys milk.")
    assert swapped["rougeLsum"] == pytest.approx(100.0) and swapped["rougeL"] == pytest.approx(50.0)


def test_gate_generates_for_adapter_folders(
    tiny_model: Path, tiny_adapter: Path, dialogsum_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["eval", "gate", "--candidate", str(tiny_adapter), "--baseline", str(tiny_adapter),
                         "--model", str(tiny_model), "--data", str(dialogsum_dir), "--limit", "3", "--samples", "50",
                         "--device", "cpu", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["n"] == 3 and result["verdict"] == "no clear difference"
    assert result["difference"]["protocol_a"]["rougeL"] == {"estimate": 0.0, "low": 0.0, "high": 0.0}
