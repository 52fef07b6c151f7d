"""`/summarize` in a channel, end to end: signed request -> ack -> collect -> queue -> worker -> post."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from slack_helpers import CHANNEL, SlackHarness, posted_text, summary_posts

from bot.slack_app.blocks import escape
from bot.slack_app.commands import SummarizeArgs, UsageError, parse_args
from worker.jobs import store_for


def test_command_gives_one_private_summary_from_every_page(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue test 1: exactly one ephemeral/response_url post carrying the summary; all pages read."""
    caplog.set_level(logging.DEBUG, logger="recap")
    response, _ = slack.command("")
    assert response.status == 200
    assert "Reading the conversation" in response.body
    slack.executor.drain()

    history, lookback = _window_and_lookback(slack)
    # 8 top-level messages (noise included) at 2 per page: 4 pages, each cursor followed once.
    assert [call.params.get("cursor") for call in history] == [None, "2", "4", "6"]
    # One look-back for older threads answered in the window, ending where the window starts.
    assert [call.params["latest"] for call in lookback] == [history[0].params["oldest"]]
    replies = slack.fake.calls_to("conversations.replies")  # the one thread: parent + 2 replies, 2 pages
    assert [call.params.get("cursor") for call in replies] == [None, "2"]
    notes = [c for c in slack.fake.calls_to("response_url") if "Summarizing" in c.params.get("text", "")]
    assert len(notes) == 1 and "Summarizing 7 messages" in notes[0].params["text"]

    (job,) = slack.jobs()
    payload = job.args[0]
    # Humans only: the bot message, the join notice and the deleted message are gone; names are known.
    assert payload["message_count"] == 7
    assert set(payload["speakers"].values()) == {"Alice", "Bob", "Carol"}
    assert "[file: changes.pdf]" in payload["dialogue"]
    assert "Deploy bot" not in payload["dialogue"] and "joined" not in payload["dialogue"]

    slack.run_worker()
    posts = summary_posts(slack.fake)
    assert len(posts) == 1
    assert posts[0].method in ("response_url", "chat.postEphemeral")
    assert not slack.fake.calls_to("chat.postMessage")
    row = store_for(slack.settings).get_summary_by_request(payload["request_id"])
    assert row is not None and row.delivered_at is not None
    sections = [b["text"]["text"] for b in posts[0].params["blocks"] if b["type"] == "section"]
    assert "".join(sections).replace(" ", "") == escape(row.text).replace(" ", "")
    assert "recap_share" in posted_text(posts[0])  # private summaries can be shared
    seeded = [m["text"] for m in slack.fake.messages[CHANNEL]]
    assert caplog.records and not [t for t in seeded if t in caplog.text]  # no message text in logs


def test_public_summary_is_posted_in_the_channel(slack: SlackHarness) -> None:
    slack.command("public")
    slack.executor.drain()
    slack.run_worker()
    (post,) = summary_posts(slack.fake)
    assert post.method == "chat.postMessage" and "thread_ts" not in post.params
    assert "recap_share" not in posted_text(post)
    row = store_for(slack.settings).recent_summaries()[0]
    assert row.public and row.message_ref and row.message_ref.startswith(f"{CHANNEL}:")


def test_expired_response_url_falls_back_to_post_ephemeral(slack: SlackHarness) -> None:
    url = slack.fake.response_url("old")
    slack.command("", response_url=url)
    slack.executor.drain()
    slack.fake.expired_urls.add("old")  # 30 minutes later, say
    slack.run_worker()
    (post,) = summary_posts(slack.fake)
    assert post.method == "chat.postEphemeral"
    assert post.params["user"] == "U1" and post.params["channel"] == CHANNEL


@pytest.mark.parametrize("text", ["2h", "3d", "100", "public", "2h public"])
def test_accepted_forms(text: str) -> None:
    assert isinstance(parse_args(text), SummarizeArgs)


def test_parsed_values() -> None:
    assert parse_args("2h") == SummarizeArgs(range_s=7200)
    assert parse_args("3d") == SummarizeArgs(range_s=3 * 86400)
    assert parse_args("100") == SummarizeArgs(count=100)
    assert parse_args("public 30m") == SummarizeArgs(range_s=1800, public=True)
    for bad in ("yesterday", "2x", "0", "2h 3h", "9999d"):
        with pytest.raises(UsageError):
            parse_args(bad)


def _window_and_lookback(slack: SlackHarness) -> tuple[list[Any], list[Any]]:
    """conversations.history calls reading the window, and those looking back for older threads (`latest`)."""
    calls = slack.fake.calls_to("conversations.history")
    return [c for c in calls if "latest" not in c.params], [c for c in calls if "latest" in c.params]


def test_time_range_and_count_limit_what_is_read(slack: SlackHarness) -> None:
    # Every seeded message is 45-60 minutes old, so the last 30 minutes hold nothing.
    slack.command("30m")
    slack.executor.drain()
    (history,), lookback = _window_and_lookback(slack)
    assert float(history.params["oldest"]) == pytest.approx(time.time() - 1800, abs=30)
    # The look-back (every seeded message is older than the window: 8 at 2 a page) ends where it starts.
    assert [c.params.get("cursor") for c in lookback] == [None, "2", "4", "6"]
    assert {c.params["latest"] for c in lookback} == {history.params["oldest"]}
    assert not slack.job_ids()
    assert "nothing to summarize" in slack.fake.calls_to("response_url")[-1].params["text"]

    # The last 2 top-level messages: a deleted one and the thread parent, which brings its 2 replies.
    slack.command("2")
    slack.executor.drain()
    last = slack.fake.calls_to("conversations.history")[-1]
    assert last.params["limit"] == "2" and "oldest" not in last.params
    (job,) = slack.jobs()
    assert job.args[0]["message_count"] == 3


def test_unparseable_arguments_get_usage_and_no_work(slack: SlackHarness) -> None:
    response, _ = slack.command("please summarize everything")
    slack.executor.drain()
    assert response.status == 200 and "Usage:" in response.body
    assert not slack.fake.calls_to("conversations.history") and not slack.job_ids()


def test_digest_is_reserved(slack: SlackHarness) -> None:
    response, _ = slack.command("digest daily 09:00")
    slack.executor.drain()
    body = json.loads(response.body) if response.body else {}
    if body:  # no digests module yet: the ack says so
        assert "Digests are not available yet." in body.get("text", "")
    assert not slack.job_ids()


def test_bot_not_in_channel_is_told_how_to_invite_it(slack: SlackHarness) -> None:
    slack.fake.not_member.add(CHANNEL)
    slack.command("")
    slack.executor.drain()
    (note,) = slack.fake.calls_to("response_url")
    assert "/invite @Recap" in note.params["text"]
    assert not slack.job_ids()
