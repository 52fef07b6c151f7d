"""Feedback: 👍/👎 buttons and reactions on summary messages become one live vote per user."""

from __future__ import annotations

from slack_helpers import CHANNEL, THREAD_TS, SlackHarness, summary_posts

from bot.slack_app.blocks import SHARE, VOTE_DOWN, VOTE_UP
from worker.jobs import store_for


def _public_summary(slack: SlackHarness) -> tuple[int, str]:
    """Summarize the thread for real; returns the summary id and the posted message's ts."""
    slack.shortcut(message_ts=THREAD_TS)
    slack.executor.drain()
    slack.run_worker()
    assert len(summary_posts(slack.fake)) == 1
    row = store_for(slack.settings).recent_summaries()[0]
    assert row.message_ref is not None
    return row.id, row.message_ref.split(":", 1)[1]


def _reaction(slack: SlackHarness, kind: str, reaction: str, ts: str, user: str = "U2") -> None:
    slack.event({"type": kind, "user": user, "reaction": reaction, "item_user": "UBOT",
                 "item": {"type": "message", "channel": CHANNEL, "ts": ts}, "event_ts": "1.2"})
    slack.executor.drain()


def test_button_and_reaction_each_store_one_replaceable_vote(slack: SlackHarness) -> None:
    """Issue test 6."""
    summary_id, ts = _public_summary(slack)
    store = store_for(slack.settings)
    button_value = [b for b in summary_posts(slack.fake)[0].params["blocks"] if b["type"] == "actions"]
    assert button_value[0]["elements"][0]["value"] == str(summary_id)

    slack.action(VOTE_UP, str(summary_id), user="U1")
    slack.executor.drain()
    votes = store.votes(summary_id)
    assert [(v.rating, v.source) for v in votes] == [(1, "button")]
    slack.action(VOTE_DOWN, str(summary_id), user="U1")  # a change of mind replaces the vote
    slack.executor.drain()
    assert [(v.rating, v.source) for v in store.votes(summary_id)] == [(-1, "button")]

    _reaction(slack, "reaction_added", "+1::skin-tone-3", ts)
    assert sorted((v.rating, v.source) for v in store.votes(summary_id)) == [(-1, "button"), (1, "reaction")]
    _reaction(slack, "reaction_added", "thumbsdown", ts)  # U2 changes their mind
    assert sorted((v.rating, v.source) for v in store.votes(summary_id)) == [(-1, "button"), (-1, "reaction")]
    _reaction(slack, "reaction_removed", "+1", ts)  # removing the old 👍 keeps the live 👎
    assert len(store.votes(summary_id)) == 2
    _reaction(slack, "reaction_removed", "thumbsdown", ts)
    assert [(v.rating, v.source) for v in store.votes(summary_id)] == [(-1, "button")]

    row = store.get_summary(summary_id)
    assert row is not None and row.model and row.prompt_version  # the vote is tied to model and prompt


def test_reactions_on_other_messages_are_ignored(slack: SlackHarness) -> None:
    summary_id, _ = _public_summary(slack)
    _reaction(slack, "reaction_added", "+1", THREAD_TS)  # the thread parent, not the summary
    _reaction(slack, "reaction_added", "tada", "999.000100")
    assert store_for(slack.settings).votes(summary_id) == []


def test_share_in_channel_posts_once_and_reactions_count_there(slack: SlackHarness) -> None:
    slack.command("")
    slack.executor.drain()
    slack.run_worker()
    row = store_for(slack.settings).recent_summaries()[0]
    assert row.message_ref is None  # private so far
    slack.action(SHARE, str(row.id))
    slack.action(SHARE, str(row.id))  # double click
    slack.executor.drain()
    (shared,) = slack.fake.calls_to("chat.postMessage")
    assert shared.params["channel"] == CHANNEL and "thread_ts" not in shared.params
    assert "recap_share" not in str(shared.params["blocks"])
    ref = store_for(slack.settings).get_summary(row.id).message_ref
    _reaction(slack, "reaction_added", "+1", ref.split(":", 1)[1], user="U3")
    assert [v.rating for v in store_for(slack.settings).votes(row.id)] == [1]
