"""`recap adapters ...` through the real entry point: exit statuses and messages for a person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recap.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def gate_file(folder: Path, name: str, **result: object) -> str:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result))
    return str(path)


def test_register_promote_experiment_and_retire(tmp_path: Path, sqlite_url: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    store = ["--store-url", sqlite_url]

    def adapters(*argv: str) -> tuple[int, str, str]:
        return run(["adapters", *argv, *store], capsys)

    good = gate_file(tmp_path, "good", metric="rougeL", score=0.40)
    assert adapters("add", "serving", "/adapters/a", "--base", "tiny-t5", "--gate", good)[0] == 0
    assert adapters("promote", "serving") == (0, "serving now serves the default\n", "")
    code, out, _ = adapters("add", "ungated", "/adapters/u", "--base", "tiny-t5")
    assert code == 0 and "cannot be promoted" in out
    code, _, err = adapters("promote", "ungated")
    assert code == 2 and "no offline gate result" in err and "Traceback" not in err

    worse = gate_file(tmp_path, "worse", metric="rougeL", candidate_score=0.35)
    assert adapters("add", "worse", "/adapters/w", "--base", "tiny-t5", "--gate", worse)[0] == 0
    code, _, err = adapters("promote", "worse")
    assert code == 2 and "scored worse than 'serving' offline" in err
    code, _, err = adapters("promote", "worse", "--force")
    assert code == 2 and "--force needs --reason" in err
    code, out, _ = adapters("promote", "worse", "--platform", "slack", "--workspace", "T1", "--force",
                            "--reason", "pilot team asked for it")
    assert code == 0 and "worse now serves slack workspace T1" in out

    code, out, _ = adapters("list")
    assert code == 0 and "worse\tserving\ttiny-t5\t/adapters/w\tserves: slack workspace T1" in out

    better = gate_file(tmp_path, "better", metric="rougeL", score=0.41, baseline="serving",
                       difference={"value": 0.01, "low": 0.002, "high": 0.018})
    assert adapters("add", "better", "/adapters/b", "--base", "tiny-t5", "--gate", better)[0] == 0
    code, _, err = adapters("experiment", "start", "bad", "--candidate", "ungated")
    assert code == 2 and "passed the gate" in err
    code, out, _ = adapters("experiment", "start", "ab", "--candidate", "better", "--share", "0.3")
    assert code == 0 and "30 % of serving's requesters to better" in out
    code, out, _ = adapters("experiment", "show", "ab")
    assert code == 0 and out.startswith("A/B experiment ab: running; 30 % of requests to the candidate")
    assert adapters("experiment", "stop", "ab", "--reason", "enough data") == (
        0, "Experiment ab stopped: enough data\n", "")
    assert adapters("experiment", "show", "nope")[0] == 2
    assert adapters("retire", "ungated") == (0, "ungated retired\n", "")
    code, _, err = adapters("retire", "serving")
    assert code == 2 and "is the default adapter" in err


def test_bad_files_give_a_clear_message(tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "gate.json"
    broken.write_text("{not json")
    code, _, err = run(["adapters", "add", "x", "/adapters/x", "--gate", str(broken), "--store-url", sqlite_url],
                       capsys)
    assert code == 2 and "is not JSON" in err and "Traceback" not in err
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "generation.json").write_text(json.dumps({"beams": 4}))
    code, _, err = run(["adapters", "add", "y", str(folder), "--store-url", sqlite_url], capsys)
    assert code == 2 and "unknown generation settings ['beams']" in err
