"""What one playground request may send to the worker: the message limit and a size a job finishes in."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from bot.dialogue import ConversationFormatError, Message

# A conservative CPU rate for flan-t5-base with map-reduce (characters of conversation per second of job time),
# so a cut paste finishes well inside RECAP_JOB_TIMEOUT_S instead of timing out after holding the worker.
CHARS_PER_JOB_SECOND = 30
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


@dataclass(frozen=True)
class Limited:
    messages: list[Message]
    note: str | None = None


def char_budget(settings: Any) -> int:
    return min(settings.playground_max_chars, settings.job_timeout_s * CHARS_PER_JOB_SECOND)


def check_pasted_text(text: str) -> None:
    """Pasted text gets its own wording: it is not a file, so "not a text file" would mislead."""
    for number, line in enumerate(text.splitlines() or [text], start=1):
        bad = next((char for char in line if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS),
                   None)
        if bad is not None:
            raise ConversationFormatError(
                f"The pasted text has an invisible control character (U+{ord(bad):04X}) on line {number}. "
                "Paste the chat as plain text, or upload the export file instead."
            )


def _last_that_fit(messages: list[Message], budget: int) -> list[Message]:
    used, start = 0, len(messages)
    while start > 0 and used + len(messages[start - 1].text) + 1 <= budget:
        start -= 1
        used += len(messages[start].text) + 1
    if start == len(messages) and messages:  # one message alone is too long: keep its end
        return [replace(messages[-1], text=messages[-1].text[-budget:])]
    return messages[start:]


def limit(messages: list[Message], settings: Any) -> Limited:
    """The last RECAP_MAX_MESSAGES messages that fit the character budget, and a note when anything was cut."""
    by_count = messages[-settings.max_messages:]
    kept = _last_that_fit(by_count, char_budget(settings))
    if len(kept) == len(messages) and kept == messages:
        return Limited(messages)
    reasons = []
    if len(by_count) < len(messages):
        reasons.append(f"the playground takes at most {settings.max_messages:,} messages (RECAP_MAX_MESSAGES)")
    if kept != by_count:
        reasons.append(f"at most {char_budget(settings):,} characters, so one summary finishes within the "
                       f"job timeout of {settings.job_timeout_s} s (RECAP_PLAYGROUND_MAX_CHARS, RECAP_JOB_TIMEOUT_S)")
    note = (f"Only the last {len(kept):,} of {len(messages):,} messages were summarized: " + "; ".join(reasons) + ".")
    return Limited(kept, note)
