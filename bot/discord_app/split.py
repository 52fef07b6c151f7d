"""Splitting a long summary into Discord messages (2,000 characters each) without changing what it says.

Cuts fall on a paragraph, line, sentence, then word boundary, and never inside a ``<...>`` token
(mentions, custom emoji, timestamps), so no part ever carries half a mention. A code block or a
bold span that a cut leaves open is closed at the end of its part and reopened in the next, so the
markdown of every part renders the way the whole text would.
"""

from __future__ import annotations

import re

MESSAGE_LIMIT = 2000
# A sentence ends with . ! ? (maybe followed by closing quotes, brackets or emphasis) and a space.
SENTENCE_END = re.compile(r"[.!?…][\"')\]*_~]*\s")
# An unfinished `<...>` token at the end of a window: `<@123`, `<a:dance:7`, `<t:1700000000`.
OPEN_TOKEN = re.compile(r"<[@#:a-zA-Z!&/][^<>\s]*$")
FENCE, BOLD = "```", "**"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of at most ``limit`` characters; joined with spaces they read as ``text``."""
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        chunk, rest = _next_part(rest, limit)
        chunks.append(chunk)
    if rest:
        chunks.append(rest)
    return chunks


def _next_part(rest: str, limit: int) -> tuple[str, str]:
    """One part (with closing markers) and the remaining text (with the markers reopened)."""
    budget = limit
    while True:
        cut = _boundary(rest[: budget + 1], budget)
        chunk, remainder = rest[:cut].rstrip(), rest[cut:].lstrip()
        closers, openers = _unbalanced(chunk)
        if len(chunk) + len(closers) <= limit or budget <= limit // 2:
            return chunk + closers, openers + remainder
        budget -= len(closers)


def _boundary(window: str, limit: int) -> int:
    """Where to cut ``window`` (``limit`` + 1 characters): the best boundary in its second half."""
    for separator in ("\n\n", "\n"):
        position = window.rfind(separator)
        if position > limit // 2:
            return position
    sentences = [match.end() - 1 for match in SENTENCE_END.finditer(window) if match.end() - 1 <= limit]
    if sentences and sentences[-1] > limit // 2:
        return sentences[-1]
    position = window.rfind(" ")
    if position > 0:
        return position
    return _hard_cut(window[:limit])


def _hard_cut(window: str) -> int:
    """No space at all: cut at the limit, but before a `<...>` token the cut would break."""
    token = OPEN_TOKEN.search(window)
    if token and token.start() > 0:
        return token.start()
    return len(window)


def _unbalanced(chunk: str) -> tuple[str, str]:
    """Markers to close at the end of ``chunk`` and to reopen in the next part."""
    closers = openers = ""
    fenced = chunk.split(FENCE)
    if len(fenced) % 2 == 0:  # an odd number of fences: a code block is still open
        closers, openers = "\n" + FENCE, FENCE + "\n"
    outside = "".join(fenced[::2])  # bold markers inside code blocks are literal text
    if outside.count(BOLD) % 2 == 1 and not closers:
        closers, openers = BOLD, BOLD
    return closers, openers
