"""The "Summarize thread" message shortcut: summarizes the whole thread of the message it is used on.

Slack does not run custom slash commands inside threads, so this (and mentioning the bot in the
thread) is how threads are summarized. The summary is posted in the thread.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack_app.flow import Deps, SummaryRequest, responder, start_summary

CALLBACK_ID = "recap_summarize_thread"
DOUBLE_CLICK_S = 60  # a second click on the same thread by the same person within this is a repeat


def build_request(shortcut: dict[str, Any], settings: Any) -> SummaryRequest:
    team = (shortcut.get("team") or {}).get("id", "")
    channel = (shortcut.get("channel") or {}).get("id", "")
    user = (shortcut.get("user") or {}).get("id", "")
    message = shortcut.get("message") or {}
    thread_ts = message.get("thread_ts") or message.get("ts") or shortcut.get("message_ts")
    return SummaryRequest(
        # Each click has its own trigger_id, so a double click is caught by the claim on the thread.
        request_id=f"slack:{team}:{shortcut.get('trigger_id')}",
        claim_key=f"slack:{team}:thread:{channel}:{thread_ts}:{user}",
        claim_ttl_s=DOUBLE_CLICK_S,
        team=team, channel=channel, user=user, thread_ts=thread_ts, limit=settings.max_messages,
        public=True, needs_thread=True, destination={"response_url": shortcut.get("response_url"), "user": user},
    )


def register(app: App, deps: Deps) -> None:
    def ack_shortcut(ack: Ack) -> None:
        ack()

    def summarize_thread(shortcut: dict[str, Any], client: WebClient, respond: Respond) -> None:
        start_summary(build_request(shortcut, deps.settings), client, responder(respond), deps)

    app.shortcut(CALLBACK_ID)(ack=ack_shortcut, lazy=[summarize_thread])
