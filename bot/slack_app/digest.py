"""Slack side of the daily digest (used by the worker's digest job through bot.digest.platforms).

Reads a channel's window with the adapter's own collector (history + thread replies, paginated),
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
from bot.slack_app.blocks import SECTION_LIMIT, VOTE_DOWN, VOTE_UP, escape
from bot.slack_app.collect import NotInChannelError, UserDirectory, collect_channel
from bot.slack_app.convert import to_messages
from bot.slack_app.deliver import _call, web_client

log = logging.getLogger("recap.slack.digest")


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
            raw = collect_channel(self.client, channel, oldest=start.timestamp(), limit=limit)
        except NotInChannelError:
            raise DigestRefused("I am not a member of that channel any more. Invite me again.") from None
        raw = [message for message in raw if float(message.get("ts") or 0) < end.timestamp()]
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
        response = _call(
            self.client.chat_postMessage,
            channel=target,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": "recap_digest", "event_payload": {"key": key, "part": part}},
        )
        return f"{response.get('channel') or target}:{response.get('ts')}"


def digest_platform(settings: Any) -> SlackDigest:
    return SlackDigest(settings)
