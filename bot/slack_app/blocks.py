"""Slack message layout for summaries: escaped mrkdwn, sections within Slack's limits, vote buttons.

Generated text is untrusted: it is defused (no @here/@channel words, no URL or host Slack would
auto-link) and then escaped (&, <, >, per https://api.slack.com/reference/surfaces/formatting#escaping),
so it can never form <!channel>, <!here>, <@U…> or a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.dialogue import defuse_links, defuse_mentions

SECTION_LIMIT = 3000  # characters of text in one section block
SECTIONS_PER_MESSAGE = 45  # Slack allows 50 blocks per message; leave room for header and buttons
# Slack refuses a message over 40,000 characters; the header, buttons and fallback text need room too.
MESSAGE_TEXT_LIMIT = 36_000
FALLBACK_LIMIT = 3000  # the notification text; the blocks carry the whole summary

VOTE_UP = "recap_vote_up"
VOTE_DOWN = "recap_vote_down"
SHARE = "recap_share"
SHOW_AGAIN = "recap_show_again"
IN_DOUBT_NOTE = "If your summary (or a part of it) is missing above, Slack lost track of it: show it again."


def show_again_post(summary_id: int) -> SlackPost:
    """A private note with a button that shows a stored summary to its requester once more."""
    button = _button(SHOW_AGAIN, str(summary_id), "Show summary again")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": IN_DOUBT_NOTE}},
              {"type": "actions", "block_id": f"recap_again_{summary_id}", "elements": [button]}]
    return SlackPost(text=IN_DOUBT_NOTE, blocks=blocks)


def escape(text: str) -> str:
    """Plain text -> Slack mrkdwn that renders as the same text and never pings or links."""
    text = defuse_links(defuse_mentions(text))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut_point(text: str, limit: int) -> int:
    """Where to split ``text`` (already escaped) so the first part fits in ``limit``."""
    for separator in ("\n\n", "\n", ". ", " "):
        index = text.rfind(separator, 0, limit)
        if index > 0:
            return index + len(separator)
    cut = limit
    amp = text.rfind("&", max(0, limit - 5), limit)  # do not split an entity like &amp;
    return amp if amp > 0 else cut


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts or ["(empty summary)"]


class EmptySummaryError(ValueError):
    """The model wrote nothing (or only spaces): there is no summary to post."""


@dataclass(frozen=True)
class SlackPost:
    text: str
    blocks: list[dict[str, Any]]


def _button(action_id: str, value: str, label: str) -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "action_id": action_id, "value": value, "text": text}


def _buttons(summary_id: int, private: bool) -> dict[str, Any]:
    value = str(summary_id)
    elements = [_button(VOTE_UP, value, "👍"), _button(VOTE_DOWN, value, "👎")]
    if private:
        elements.append({**_button(SHARE, value, "Share in channel"), "style": "primary"})
    return {"type": "actions", "block_id": f"recap_feedback_{value}", "elements": elements}


def _header(message_count: int) -> str:
    count = f" of {message_count} messages" if message_count else ""
    return f"*Recap summary{count}*"


def _messages(sections: list[str]) -> list[list[str]]:
    """Group sections into messages within Slack's 50-block and 40,000-character limits."""
    chunks: list[list[str]] = [[]]
    size = 0
    for section in sections:
        full = len(chunks[-1]) >= SECTIONS_PER_MESSAGE or size + len(section) > MESSAGE_TEXT_LIMIT
        if chunks[-1] and full:
            chunks.append([])
            size = 0
        chunks[-1].append(section)
        size += len(section)
    return chunks


def summary_posts(text: str, summary_id: int, message_count: int, private: bool) -> list[SlackPost]:
    """One post in practice; very long summaries become several, buttons on the last one.
    Refuses an empty text: a "Recap summary" header over nothing would look like a success."""
    if not defuse_mentions(text).strip():
        raise EmptySummaryError(f"summary {summary_id} is empty")
    chunks = _messages(split_sections(escape(text)))
    posts: list[SlackPost] = []
    for number, chunk in enumerate(chunks):
        blocks: list[dict[str, Any]] = []
        if number == 0:
            header = {"type": "mrkdwn", "text": _header(message_count)}
            blocks.append({"type": "context", "elements": [header]})
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in chunk]
        if number == len(chunks) - 1:
            blocks.append(_buttons(summary_id, private))
        fallback = "\n".join(chunk)
        if len(fallback) > FALLBACK_LIMIT:
            fallback = fallback[: _cut_point(fallback, FALLBACK_LIMIT - 1)].rstrip() + "…"
        posts.append(SlackPost(text=fallback, blocks=blocks))
    return posts

