"""Helpers shared by the multi-adapter tests."""

from __future__ import annotations

from bot.queue import SummaryJob


def make_job(index: int, dialogue: str, *, workspace: str = "T1", requester: str = "", platform: str = "slack",
             **extra: object) -> SummaryJob:
    return SummaryJob(request_id=f"{platform}:{workspace}:req-{index}", platform=platform, dialogue=dialogue,
                      workspace=workspace, channel="C1", requester=requester or f"U{index}", **extra)  # type: ignore[arg-type]
