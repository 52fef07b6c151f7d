"""The eval report for the chat admin commands (Slack `/summarize report`, Discord `/recap-report`).

training.report (matplotlib, no torch) is imported inside the function, so importing the adapters
stays light and only an admin's request pays for it. Never call this before the ack / defer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FILENAME = "recap-report.html"
TITLE = "Recap evaluation report"

# pyplot keeps global state: two admins asking at once must not draw into the same figure.
_render_lock = threading.Lock()


@dataclass(frozen=True)
class ChatReport:
    text: str  # plain text, no mentions, no markup
    html: bytes  # self-contained: charts are embedded as base64 PNGs


def build_chat_report(store: Any) -> ChatReport:
    """The short text summary and the store-based sections (feedback, latency) as one HTML file."""
    from bot.adapters.experiments import Experiments
    from training.abtest import ab_report_lines, ab_section
    from training.feedback import chat_report_summary
    from training.report import feedback_sections, to_html

    ab_lines = ab_report_lines(store) if Experiments(store).all() else []  # arms in aggregate only, no people
    text = chat_report_summary(store) + ("\n" + "\n".join(ab_lines) if ab_lines else "")
    with _render_lock:
        sections = feedback_sections(store) + ([ab_section(store)] if ab_lines else [])
    title = f"{TITLE} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    return ChatReport(text=text, html=to_html(title, sections).encode("utf-8"))
