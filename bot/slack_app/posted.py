"""Finding a message our bot already posted, by the metadata marker it was posted with.

When Slack accepted a chat.postMessage but its answer never arrived (connection reset, timeout), the
retry cannot tell whether the post exists. Every summary and digest part is posted with a marker
(an event type and a payload naming the request and the part); on a retry that is in doubt, the
thread or channel is searched for our own message with that marker and its ts is adopted instead of
posting again. Ephemeral posts are not in any history, so they cannot be found this way.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack_app.collect import LOOKBACK_PARENTS, SlackMessage, pages

Marker = dict[str, Any]


def marker(event_type: str, **payload: str | int) -> Marker:
    """The ``metadata`` argument of chat.postMessage for one post."""
    return {"event_type": event_type, "event_payload": payload}


def find_marked(
    client: WebClient, channel: str, wanted: Marker, *, since: float, thread_ts: str | None = None
) -> str | None:
    """The ts of our bot's message carrying ``wanted``, posted since ``since`` in the thread (when
    ``thread_ts``) or at the channel's top level; None when there is none."""
    bot_id = own_bot_id(client)
    params: dict[str, Any] = {"channel": channel, "oldest": f"{since:.6f}", "include_all_metadata": True}
    if thread_ts:
        found = pages(client.conversations_replies, LOOKBACK_PARENTS, ts=thread_ts, **params)
    else:
        found = pages(client.conversations_history, LOOKBACK_PARENTS, **params)
    for message in found:
        if _matches(message, wanted) and (not bot_id or message.get("bot_id") == bot_id):
            return str(message["ts"])
    return None


def _matches(message: SlackMessage, wanted: Marker) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    expected = wanted["event_payload"]
    return metadata.get("event_type") == wanted["event_type"] and all(
        str(payload.get(key)) == str(value) for key, value in expected.items()
    )


def own_bot_id(client: WebClient) -> str:
    """Our bot id: another app could post the same marker, only ours counts."""
    try:
        return str(client.auth_test().get("bot_id") or "")
    except SlackApiError:
        return ""
