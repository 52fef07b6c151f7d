"""The report's latency section: stages labelled and counted per job; older stores fall back, labelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import Store
from recap import cli
from training.report import to_markdown
from training.report_sections import latency_section


def test_each_stage_is_labelled_and_counted_per_job(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    # One batch of three jobs (latency_ms is the whole batch's generate call, 330 ms, on each row); each job
    # has its own generation share (100, 110, 120 ms), its own queue wait and delivery.
    for n, (wait, generate, deliver) in enumerate([(0, 100, 40), (100, 110, 50), (210, 120, 60)]):
        sid = store.record_summary(request_id=f"r{n}", platform="slack", workspace="T1", channel="C1", model="m",
                                   prompt_version="p@1", text="#Person1# waves.", latency_ms=330)
        store.record_timings(sid, queue_wait_ms=wait, generate_ms=generate, delivery_ms=deliver)
    store.record_summary(request_id="old", platform="slack", workspace="T1", channel="C1", model="m",
                         prompt_version="p@1", text="#Person1# waves.", latency_ms=900)  # no stages recorded
    markdown = to_markdown("t", [latency_section(store.recent_summaries(), "sqlite:///x.db")])
    # An older row without stages is left out, not counted as 0.
    assert "| queue wait (enqueued to generation start) | 3 | 100 | 188 | 199 | 208 |" in markdown
    assert "| generation (this job's own share of its batch) | 3 | 110 | 118 | 119 | 120 |" in markdown
    assert "| delivery (posting back to the platform) | 3 | 50 | 58 | 59 | 60 |" in markdown
    assert "overhead" not in markdown and "from sqlite:///x.db" in markdown


def test_report_names_the_store_and_labels_the_old_latency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'recap.db'}"
    Store(url).record_summary(request_id="r1", platform="slack", workspace="T1", channel="C1", model="m",
                              prompt_version="p@1", text="#Person1# waves.", latency_ms=700)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", "--out", str(tmp_path / "report"), "--store-url", url])
    assert exit_.value.code in (0, None)
    assert f"Read the store at {url}" in capsys.readouterr().out
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "whole batch's time; queue wait and delivery not included" in markdown
    assert "## Latency per stage" in markdown


def test_report_from_a_folder_without_a_store_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "elsewhere" / "recap.db"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", "--out", str(tmp_path / "report"), "--store-url", f"sqlite:///{missing}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"no store at {missing}" in err and "Traceback" not in err
    assert not missing.exists() and not missing.parent.exists()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "export-feedback", "--out", str(tmp_path / "f.jsonl"), "--store-url",
                  f"sqlite:///{missing}"])
    assert exit_.value.code == 2 and not missing.exists() and not (tmp_path / "f.jsonl").exists()
