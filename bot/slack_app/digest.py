"""Slack side of the daily digest (used by the worker's digest job through bot.digest.platforms).

Reads a channel's window with the adapter's own collector (history + thread replies, paginated), plus
the in-window replies of threads that started before the window (history only lists parents, so the
parents of a bounded look-back whose `latest_reply` is in the window are read too), converts with its
converter, links each conversation with chat.getPermalink, and posts with the
deliverer's escaping: the text can never form <!channel>, <!here>, <@U…> or a link of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.dialogue import Message
from bot.digest.controls import ChannelInfo, DigestRefused
from bot.digest.render import Style
from bot.slack_app.blocks import SECTION_LIMIT, VOTE_DOWN, VOTE_UP, escape
from bot.slack_app.collect import NotInChannelError, SlackMessage, UserDirectory, collect_channel, collect_thread
from bot.slack_app.convert import to_messages
from bot.slack_app.deliver import _call, web_client

log = logging.getLogger("recap.slack.digest")

THREAD_LOOKBACK = timedelta(days=7)  # threads started this long before the window may still get replies
PAGE = 200  # Slack's recommended page size for conversations.*
LOOKBACK_PARENTS = 1000  # at most this many older top-level messages are checked for in-window replies
MARKER = "recap_digest"  # metadata event type on every digest part (found again after a crash)


def _link(url: str, label: str) -> str:
    # Our own permalink; characters that would end Slack's <url|label> form are dropped.
    safe = url.replace("|", "%7C").replace("<", "").replace(">", "")
    return f"<{safe}|{label}>"


STYLE = Style(text=escape, bold=lambda text: f"*{text}*", link=_link, limit=SECTION_LIMIT)


def archive_link(domain: str, channel: str, ts: str) -> str:
    """Slack's documented permalink form, for when chat.getPermalink cannot answer."""
    return f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"


def channel_info(client: WebClient, channel: str) -> ChannelInfo:
    try:
        data = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as exc:
        log.info("conversations.info %s: %s", channel, exc.response.get("error"))
        raise DigestRefused(
            "I can't see that channel. If it is private, invite me first (`/invite @Recap`)."
        ) from None
    private = bool(data.get("is_private") or data.get("is_im") or data.get("is_mpim"))
    return ChannelInfo(
        id=channel, name=str(data.get("name") or ""), private=private, bot_member=bool(data.get("is_member"))
    )


def _vote_buttons(summary_id: int) -> dict[str, Any]:
    """The adapter's 👍 / 👎 buttons (its action handlers record the votes on the digest's summary row)."""
    value = str(summary_id)
    elements = [
        {"type": "button", "action_id": action, "value": value, "text": {"type": "plain_text", "text": t}}
        for action, t in ((VOTE_UP, "👍"), (VOTE_DOWN, "👎"))
    ]
    return {"type": "actions", "block_id": f"recap_feedback_{value}", "elements": elements}


class SlackDigest:
    style = STYLE

    def __init__(self, settings: Any, client: WebClient | None = None) -> None:
        self.client = client or web_client(settings)
        self.users = UserDirectory()
        self._domain: str | None = None

    def channel_info(self, channel: str) -> ChannelInfo:
        return channel_info(self.client, channel)

    def collect(self, channel: str, start: datetime, end: datetime, limit: int) -> list[Message]:
        try:
            raw = [*collect_channel(self.client, channel, oldest=start.timestamp(), limit=limit)]
            raw += self._older_threads(channel, start, end, limit)
        except NotInChannelError:
            raise DigestRefused("I am not a member of that channel any more. Invite me again.") from None
        raw = _unique([message for message in raw if float(message.get("ts") or 0) < end.timestamp()])[-limit:]
        return to_messages(raw, self.users.names_for(self.client, raw))

    def _older_threads(self, channel: str, start: datetime, end: datetime, limit: int) -> list[SlackMessage]:
        """Parents from the look-back whose thread got replies in the window: the parent (context) and
        those replies, nothing older."""
        oldest, since = (start - THREAD_LOOKBACK).timestamp(), start.timestamp()
        parents = _history(
            self.client,
            channel=channel,
            oldest=f"{oldest:.6f}",
            latest=f"{since:.6f}",
        )
        found: list[SlackMessage] = []
        for parent in parents:
            is_parent = parent.get("reply_count") and parent.get("thread_ts") == parent.get("ts")
            if not is_parent or float(parent.get("latest_reply") or 0) < since:
                continue
            replies = collect_thread(self.client, channel, parent["ts"], limit)
            window = [r for r in replies if since <= float(r.get("ts") or 0) < end.timestamp()]
            if window:
                found += [parent, *window]
        return found

    def permalink(self, channel: str, message: Message) -> str | None:
        try:
            return str(
                self.client.chat_getPermalink(channel=channel, message_ts=message.message_id)["permalink"]
            )
        except (SlackApiError, KeyError):
            return archive_link(self._team_domain(), channel, message.message_id)

    def _team_domain(self) -> str:
        if self._domain is None:
            try:
                url = str(self.client.auth_test().get("url") or "")
            except SlackApiError:
                url = ""
            self._domain = url.removeprefix("https://").split(".slack.com", 1)[0] or "app"
        return self._domain

    def post(self, target: str, text: str, *, key: str, part: int, summary_id: int, last: bool) -> str:
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        if last and summary_id:
            blocks.append(_vote_buttons(summary_id))
        response = _call(
            self.client.chat_postMessage,
            channel=target,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": MARKER, "event_payload": {"key": key, "part": part}},
        )
        return f"{response.get('channel') or target}:{response.get('ts')}"


    def find_posted(self, target: str, *, key: str, part: int, since: datetime) -> str | None:
        """The ref of part ``part`` of digest ``key`` if an earlier attempt posted it (Slack accepted it
        but the attempt died before recording it): our own message with that metadata marker."""
        bot_id = self._bot_id()
        history = _history(
            self.client,
            channel=target,
            oldest=f"{since.timestamp():.6f}",
            include_all_metadata=True,
        )
        for message in history:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == MARKER
                and payload.get("key") == key
                and str(payload.get("part")) == str(part)
                and (not bot_id or message.get("bot_id") == bot_id)
            ):
                return f"{target}:{message['ts']}"
        return None

    def _bot_id(self) -> str:
        """Our bot id: another app could post the same marker, only ours counts."""
        try:
            return str(self.client.auth_test().get("bot_id") or "")
        except SlackApiError:
            return ""

    def notify_admin(self, user: str, text: str) -> None:
        """A direct message to the admin who set the digest up (the text names channels, no content)."""
        opened = _call(self.client.conversations_open, users=user)
        _call(self.client.chat_postMessage, channel=opened["channel"]["id"], text=escape(text), unfurl_links=False)


def _history(client: WebClient, **params: Any) -> Iterator[SlackMessage]:
    """conversations.history across cursor pages, newest first, at most LOOKBACK_PARENTS messages."""
    cursor: str | None = None
    for _ in range(LOOKBACK_PARENTS // PAGE):
        try:
            page = client.conversations_history(limit=PAGE, cursor=cursor, **params)
        except SlackApiError as exc:
            if exc.response.get("error") in ("not_in_channel", "channel_not_found"):
                raise NotInChannelError(exc.response.get("error")) from exc
            raise
        yield from page.get("messages") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not page.get("has_more") or not cursor:
            return


def _unique(messages: Iterable[SlackMessage]) -> list[SlackMessage]:
    """Oldest first, each ts once (a thread broadcast is both in history and in its thread)."""
    seen: dict[str, SlackMessage] = {}
    for message in messages:
        seen.setdefault(str(message.get("ts")), message)
    return sorted(seen.values(), key=lambda m: float(m.get("ts") or 0))


def digest_platform(settings: Any) -> SlackDigest:
    return SlackDigest(settings)
