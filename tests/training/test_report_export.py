"""The report from a seeded store, the chat summary, and the opt-in feedback export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.store import Store
from training.cli import report_command, train_app
from training.data import load_split
from training.feedback import chat_report_summary, wilson


def _summary(
    store: Store,
    n: int,
    *,
    platform: str = "slack",
    workspace: str = "T1",
    adapter: str | None = None,
    latency: int = 1000,
) -> int:
    return store.record_summary(
        request_id=f"req-{n}",
        platform=platform,
        workspace=workspace,
        channel="C1",
        model="flan-t5-base",
        adapter=adapter,
        prompt_version="summarize-v1@x",
        text=f"#Person1# and #Person2# talk ({n}).",
        latency_ms=latency,
    )


def _seed(store: Store) -> None:
    for n in range(6):
        sid = _summary(
            store,
            n,
            platform="slack" if n % 2 else "discord",
            adapter="lora-v1" if n < 3 else None,
            latency=500 + 100 * n,
        )
        store.record_vote(sid, f"user-{n}", 1 if n % 3 else -1)
        store.record_vote(sid, f"other-{n}", 1)


def test_wilson_interval_known_values() -> None:
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_report_markdown_and_html_from_store(tmp_path: Path, sqlite_url: str, dialogsum_dir: Path) -> None:
    store = Store(sqlite_url)
    _seed(store)
    test = load_split(str(dialogsum_dir), "test", 3)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": e.id, "prediction": e.dialogue.splitlines()[0]}) + "\n" for e in test))

    html_path = report_command(
        out=tmp_path / "report",
        system=[f"lead={preds}"],
        data=str(dialogsum_dir),
        split="test",
        store_url=sqlite_url,
    )
    html = html_path.read_text()
    markdown = (tmp_path / "report" / "report.md").read_text()
    # lengths, feedback by model, votes over time
    assert html.count("data:image/png;base64,") == 3
    assert html.startswith("<!doctype html>") and "<table>" in html and 'src="http' not in html
    for text in (
        "Protocol A",
        "Protocol C",
        "human (each annotator vs the other two)",
        "extractive baseline",
        "flan-t5-base + lora-v1",
        "Wilson",
        "p90",
        "discord",
        "Output length",
    ):
        assert text in markdown, text
    assert "![" in markdown and (tmp_path / "report" / "charts" / "lengths.png").is_file()
    # Numbers from the seeded rows: 3 summaries x 2 votes per model, one 👎 each; latencies 500..1000 ms.
    low, high = wilson(5, 6)
    assert f"| flan-t5-base + lora-v1 | 6 | 5 | 83% | {low * 100:.0f}%-{high * 100:.0f}% |" in markdown
    assert "| all | 6 | 750 | 950 | 975 | 995 |" in markdown
    assert f"{dialogsum_dir} (test split)" in markdown

    text = chat_report_summary(store)
    assert "6 summaries, 12 votes" in text and "👍" in text and "p50" in text and "@" not in text


def test_chat_summary_on_empty_store(sqlite_url: str) -> None:
    assert "no summaries" in chat_report_summary(Store(sqlite_url))


def test_export_feedback_honours_opt_in(tmp_path: Path, sqlite_url: str) -> None:
    store = Store(sqlite_url)
    liked, disliked, liked2, again = (_summary(store, n) for n in range(4))
    for sid in (liked, disliked, liked2):
        assert store.keep_dialogue(sid, "slack", "T1", f"#Person1#: dialogue {sid}") is False  # off by default
    store.record_vote(liked, "u1", 1)
    store.record_vote(disliked, "u1", -1)
    store.record_vote(liked2, "u2", 1)
    store.record_vote(again, "u2", 1)
    out = tmp_path / "feedback.jsonl"
    runner = CliRunner()
    export = ["export-feedback", "--out", str(out), "--store-url", sqlite_url, "--min-rows", "2"]

    result = runner.invoke(train_app, export)
    assert result.exit_code == 2, result.output
    assert "only 0 distinct opted-in" in result.stderr and "nothing was written" in result.stderr
    assert not out.exists()

    store.set_sharing("slack", "T1", True)
    for sid in (liked, disliked, liked2):
        assert store.keep_dialogue(sid, "slack", "T1", f"#Person1#: dialogue {sid}") is True
    # The same conversation summarized twice (a re-run) is exported once.
    assert store.keep_dialogue(again, "slack", "T1", f"#Person1#:   dialogue {liked}") is True
    result = runner.invoke(train_app, export)
    assert result.exit_code == 0, result.output
    assert "Wrote 2 examples" in result.stdout and "1 duplicate" in result.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["dialogue"] for r in rows) == [
        f"#Person1#: dialogue {liked}",
        f"#Person1#: dialogue {liked2}",
    ]
    assert all(set(r) == {"dialogue", "summary"} for r in rows)
    assert len(load_split(str(out), "train")) == 2  # what `recap train lora --data` reads

    result = runner.invoke(train_app, [*export[:-1], "3"])
    assert result.exit_code == 2 and "at least 3" in result.stderr and len(out.read_text().splitlines()) == 2

    store.set_sharing("slack", "T1", False)
    result = runner.invoke(train_app, export)
    assert result.exit_code == 2 and "only 0 distinct" in result.stderr
