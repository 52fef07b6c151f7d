"""Events: `@Recap summarize` in a thread, and 👍/👎 reactions on posted summaries."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.slack_app.flow import Deps, SummaryRequest, ephemeral, start_summary

log = logging.getLogger("recap.slack.events")

MENTION_HELP = (
    "Mention me inside a thread (`@Recap summarize`) to summarize that thread, "
    "or use `/summarize` in the channel."
)
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
VOTES = {"+1": 1, "thumbsup": 1, "-1": -1, "thumbsdown": -1}


def asks_for_summary(text: str) -> bool:
    """`@Recap`, `@Recap summarize`, `@Recap summary please`... but not other questions."""
    rest = _MENTION.sub(" ", text or "").strip().lower()
    return not rest or rest.startswith("summar") or rest.startswith("tl;dr") or rest == "recap"


def mention_request(body: dict[str, Any], event: dict[str, Any], settings: Any) -> SummaryRequest:
    team = body.get("team_id") or event.get("team", "")
    # Slack retries keep the event_id; the claim on it makes a retry a no-op.
    key = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    request_id = f"slack:{team}:{key}"
    return SummaryRequest(
        request_id=request_id, claim_key=request_id, team=team, channel=event.get("channel", ""),
        user=event.get("user", ""), thread_ts=event.get("thread_ts"), limit=settings.max_messages,
        public=True, needs_thread=True, destination={"user": event.get("user")},
    )


def vote_for(reaction: str) -> int | None:
    return VOTES.get(reaction.split("::", 1)[0])  # "+1::skin-tone-3" counts as "+1"


def register(app: App, deps: Deps) -> None:
    def ack_event(ack: Ack) -> None:
        ack()

    def on_mention(body: dict[str, Any], event: dict[str, Any], client: WebClient) -> None:
        notify = ephemeral(client, event.get("channel", ""), event.get("user", ""), event.get("thread_ts"))
        if not event.get("thread_ts") or not asks_for_summary(event.get("text", "")):
            try:
                notify(MENTION_HELP)
            except Exception:  # noqa: BLE001 - keep the app alive
                log.exception("could not answer a mention")
            return
        start_summary(mention_request(body, event, deps.settings), client, notify, deps)

    def on_reaction(body: dict[str, Any], event: dict[str, Any]) -> None:
        rating = vote_for(event.get("reaction", ""))
        item = event.get("item") or {}
        if rating is None or item.get("type") != "message":
            return
        store = deps.store()
        summary = store.find_summary_by_message("slack", f"{item.get('channel')}:{item.get('ts')}")
        if summary is None:
            return
        voter = f"slack:{body.get('team_id', '')}:{event.get('user', '')}"
        if event.get("type") == "reaction_added":
            store.record_vote(summary.id, voter, rating, source="reaction")
        else:
            store.withdraw_vote(summary.id, voter, rating)
        log.info("reaction vote %+d %s on summary %s", rating, event.get("type"), summary.id)

    app.event("app_mention")(ack=ack_event, lazy=[on_mention])
    app.event("reaction_added")(on_reaction)
    app.event("reaction_removed")(on_reaction)
