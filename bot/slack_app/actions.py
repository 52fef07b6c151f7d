"""Buttons on summary messages: 👍 / 👎 votes, "Share in channel" on private summaries, and "Show
summary again" (offered when a private summary's answer from Slack was lost), plus a short answer to
any button of ours this version no longer knows."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.queue import QueueUnavailableError
from bot.ratelimit import claim_once
from bot.slack_app.blocks import SHARE, SHOW_AGAIN, VOTE_DOWN, VOTE_UP, summary_posts
from bot.slack_app.flow import Deps

log = logging.getLogger("recap.slack.actions")

OUTDATED = "This button is from an older version of Recap and no longer works. Run `/summarize` again."
VOTE_FAILED = ":warning: I could not record your vote just now. Please try again in a minute."


def _summary_id(body: dict[str, Any]) -> int | None:
    actions = body.get("actions") or [{}]
    try:
        return int(actions[0].get("value", ""))
    except (ValueError, TypeError, AttributeError):  # a malformed payload is not a vote
        return None


def _voter(body: dict[str, Any]) -> str:
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id", "")
    return f"slack:{team}:{(body.get('user') or {}).get('id', '')}"


def _private_note(respond: Respond, text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:  # noqa: BLE001 - an expired response_url must not crash the listener
        log.warning("could not send a note after a button click")


def _first_share(deps: Deps, summary_id: int) -> bool:
    """A double click on "Share in channel" posts once."""
    try:
        return claim_once(deps.connection, f"slack:share:{summary_id}", 86400)
    except QueueUnavailableError:
        return True  # without Redis we cannot tell; sharing twice beats not sharing


def register(app: App, deps: Deps) -> None:
    def vote(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        summary_id = _summary_id(body)
        if summary_id is None:
            return
        rating = 1 if (body.get("actions") or [{}])[0].get("action_id") == VOTE_UP else -1
        try:
            store = deps.store()
            if store.get_summary(summary_id) is None:
                _private_note(respond, "That summary is no longer stored, so the vote was not recorded.")
                return
            store.record_vote(summary_id, _voter(body), rating, source="button")
        except Exception:  # noqa: BLE001 - the store being down must not go unanswered
            log.exception("button vote on summary %s could not be stored", summary_id)
            _private_note(respond, VOTE_FAILED)
            return
        log.info("button vote %+d on summary %s", rating, summary_id)
        _private_note(respond, "Thanks for the feedback! " + ("👍" if rating > 0 else "👎"))

    def share(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        summary_id = _summary_id(body)
        row = deps.store().get_summary(summary_id) if summary_id is not None else None
        channel = (body.get("channel") or {}).get("id") or (row.channel if row else "")
        if row is None or not channel:
            _private_note(respond, "That summary is no longer stored, so it cannot be shared.")
            return
        if not _first_share(deps, row.id):
            _private_note(respond, "This summary was already shared in the channel.")
            return
        posts = summary_posts(row.text, row.id, row.message_count, private=False)
        try:
            reference = None
            for post in posts:
                response = client.chat_postMessage(channel=channel, text=post.text, blocks=post.blocks,
                                                   unfurl_links=False, unfurl_media=False)
                reference = reference or f"{response.get('channel') or channel}:{response.get('ts')}"
        except SlackApiError as exc:
            log.warning("share of summary %s failed: %s", row.id, exc.response.get("error"))
            _private_note(respond, "I could not post in this channel. Invite me with `/invite @Recap` first.")
            return
        deps.store().mark_delivered(row.id, reference)  # reactions on the shared post now count
        _private_note(respond, "Shared in the channel.")

    def show_again(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        summary_id = _summary_id(body)
        row = deps.store().get_summary(summary_id) if summary_id is not None else None
        clicker = (body.get("user") or {}).get("id", "")
        if row is None or row.requester != clicker:  # only its requester ever saw this private summary
            _private_note(respond, "That summary is no longer stored.")
            return
        for post in summary_posts(row.text, row.id, row.message_count, private=True):
            respond(text=post.text, blocks=post.blocks, response_type="ephemeral", replace_original=False)

    def outdated(ack: Ack, respond: Respond) -> None:
        ack()
        _private_note(respond, OUTDATED)

    app.action(VOTE_UP)(vote)
    app.action(VOTE_DOWN)(vote)
    app.action(SHARE)(share)
    app.action(SHOW_AGAIN)(show_again)
    app.action(re.compile(r"^recap_"))(outdated)  # a button from an older Recap: answered, not ignored
