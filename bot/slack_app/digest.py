"""Slack side of the daily digest (used by the worker's digest job through bot.digest.platforms).

Reads a channel's window with the adapter's own collector (bot.slack_app.collect.read_window: history +
thread replies, paginated, plus the in-window replies of threads that started before the window),
converts with its converter, links each conversation with chat.getPermalink, and posts with the
deliverer's escaping: the text can never form <!channel>, <!here>, <@U…> or a link of its own.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.dialogue import Message
from bot.digest.controls import ChannelInfo, DigestRefused
from bot.digest.render import Style
from bot.slack_app.blocks import SECTION_LIMIT, VOTE_DOWN, VOTE_UP, SlackPost, escape
from bot.slack_app.collect import NotInChannelError, UserDirectory, read_window
from bot.slack_app.convert import to_messages
from bot.slack_app.deliver import call_api, post_marked, web_client
from bot.slack_app.posted import find_marked, marker

log = logging.getLogger("recap.slack.digest")

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
            raw = read_window(self.client, channel, oldest=start.timestamp(), end=end.timestamp(), limit=limit)
        except NotInChannelError:
            raise DigestRefused("I am not a member of that channel any more. Invite me again.") from None
        raw.sort(key=lambda message: float(message.get("ts") or 0))  # conversations are grouped by time
        return to_messages(raw, self.users.names_for(self.client, raw))

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
        return post_marked(self.client, target, SlackPost(text, blocks), marker(MARKER, key=key, part=part))

    def find_posted(self, target: str, *, key: str, part: int, since: datetime) -> str | None:
        """The ref of part ``part`` of digest ``key`` if an earlier attempt posted it (Slack accepted it
        but the attempt died before recording it): our own message with that metadata marker."""
        ts = find_marked(self.client, target, marker(MARKER, key=key, part=part), since=since.timestamp())
        return f"{target}:{ts}" if ts else None

    def notify_admin(self, user: str, text: str) -> None:
        """A direct message to the admin who set the digest up (the text names channels, no content)."""
        opened = call_api(self.client.conversations_open, users=user)
        call_api(self.client.chat_postMessage, channel=opened["channel"]["id"], text=escape(text), unfurl_links=False)


def digest_platform(settings: Any) -> SlackDigest:
    return SlackDigest(settings)
