"""The report's latency section: stages labelled and counted per job; older stores fall back, labelled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.store import Store
from recap import cli
from training.report import to_markdown
from training.report_sections import latency_section


@dataclass
class StagedRow:
    """A summary row as the store-queue package records it (nullable per-stage columns)."""

    latency_ms: int
    queue_wait_ms: int | None
    generate_ms: int | None
    delivery_ms: int | None
    overhead_ms: int | None = None


def test_each_stage_is_labelled_and_counted_per_job() -> None:
    # One batch of three jobs: each job's own generation share (100, 110, 120 ms), its own queue wait.
    rows = [StagedRow(330, 0, 100, 40), StagedRow(330, 100, 110, 50), StagedRow(330, 210, 120, 60),
            StagedRow(900, None, None, None)]  # an older row without stages is left out, not counted as 0
    markdown = to_markdown("t", [latency_section(rows, "sqlite:///x.db")])
    assert "| queue wait (enqueued to generation start) | 3 | 100 | 188 | 199 | 208 |" in markdown
    assert "| generation (this job's own share of its batch) | 3 | 110 | 118 | 119 | 120 |" in markdown
    assert "| delivery (posting back to the platform) | 3 | 50 | 58 | 59 | 60 |" in markdown
    assert "other overhead" not in markdown and "from sqlite:///x.db" in markdown


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
