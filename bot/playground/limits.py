"""What one playground request may send to the worker: the message limit and a size a job finishes in."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from bot.dialogue import ConversationFormatError, Message
from bot.queue_limits import estimate_tokens

# A conservative CPU rate for flan-t5-base with map-reduce (characters of conversation per second of job time),
# so a cut paste finishes well inside RECAP_JOB_TIMEOUT_S instead of timing out after holding the worker.
CHARS_PER_JOB_SECOND = 30
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
TAG_TOKENS = 6  # "#Person12#: " and the line break, in the queue's token estimate


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


def message_cap(settings: Any) -> int:
    """The queue's own bound on one job (bot.queue_limits), so a cut paste is never refused at enqueue."""
    return getattr(settings, "max_job_messages", None) or settings.max_messages


def _last_that_fit(messages: list[Message], chars: int, tokens: int) -> list[Message]:
    used_chars, used_tokens, start = 0, 0, len(messages)
    while start > 0:
        text = messages[start - 1].text
        cost = estimate_tokens(text) + TAG_TOKENS
        if used_chars + len(text) + 1 > chars or used_tokens + cost > tokens:
            break
        start, used_chars, used_tokens = start - 1, used_chars + len(text) + 1, used_tokens + cost
    if start == len(messages) and messages:  # one message alone is too long: keep its end
        return [replace(messages[-1], text=messages[-1].text[-min(chars, tokens):])]
    return messages[start:]


def limit(messages: list[Message], settings: Any) -> Limited:
    """The last messages within the job bounds and the character budget, and a note when anything was cut."""
    cap = message_cap(settings)
    by_count = messages[-cap:]
    kept = _last_that_fit(by_count, char_budget(settings), getattr(settings, "max_job_tokens", 12000) - TAG_TOKENS)
    if len(kept) == len(messages) and kept == messages:
        return Limited(messages)
    reasons = []
    if len(by_count) < len(messages):
        reasons.append(f"one summary covers at most {cap:,} messages (RECAP_MAX_MESSAGES)")
    if kept != by_count:
        reasons.append(f"at most {char_budget(settings):,} characters, so one summary finishes within the job "
                       f"timeout of {settings.job_timeout_s} s (RECAP_PLAYGROUND_MAX_CHARS, RECAP_JOB_TIMEOUT_S; "
                       "RECAP_MAX_JOB_TOKENS)")
    note = (f"Only the last {len(kept):,} of {len(messages):,} messages were summarized: " + "; ".join(reasons) + ".")
    return Limited(kept, note)
