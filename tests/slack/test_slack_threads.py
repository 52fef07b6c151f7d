"""Threads: the "Summarize thread" message shortcut and `@Recap summarize` in a thread."""

from __future__ import annotations

from slack_helpers import CHANNEL, THREAD_TS, SlackHarness, summary_posts

from worker.jobs import store_for


def _reply_ts(slack: SlackHarness) -> str:
    return next(m["ts"] for m in slack.fake.messages[CHANNEL] if m.get("thread_ts") == THREAD_TS
                and m["ts"] != THREAD_TS)


def test_thread_shortcut_posts_one_threaded_message(slack: SlackHarness) -> None:
    """Issue test 2: the shortcut, used on a reply, summarizes the whole thread in the thread."""
    response, _ = slack.shortcut(message_ts=_reply_ts(slack))
    assert response.status == 200
    slack.executor.drain()
    assert not slack.fake.calls_to("conversations.history")  # only the thread is read
    assert all(c.params["ts"] == THREAD_TS for c in slack.fake.calls_to("conversations.replies"))
    (job,) = slack.jobs()
    assert job.args[0]["message_count"] == 3 and job.args[0]["thread"] == THREAD_TS

    slack.run_worker()
    posts = summary_posts(slack.fake)
    assert len(posts) == 1
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert post is posts[0]
    assert post.params["thread_ts"] == THREAD_TS and post.params["channel"] == CHANNEL
    assert post.params["unfurl_links"] is False and post.params["unfurl_media"] is False
    assert "recap_share" not in str(post.params["blocks"])  # already public
    row = store_for(slack.settings).get_summary_by_request(job.args[0]["request_id"])
    assert row is not None and row.message_ref and row.message_ref.startswith(f"{CHANNEL}:")


def test_double_click_on_the_shortcut_gives_one_job(slack: SlackHarness) -> None:
    slack.shortcut(message_ts=THREAD_TS)
    slack.shortcut(message_ts=THREAD_TS)  # a new trigger_id, same person, same thread
    slack.executor.drain()
    assert len(slack.job_ids()) == 1
    slack.run_worker()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


def test_mention_in_thread_summarizes_the_thread(slack: SlackHarness) -> None:
    event = {"type": "app_mention", "user": "U2", "text": "<@UBOT> summarize", "ts": "1799999999.000100",
             "channel": CHANNEL, "thread_ts": THREAD_TS, "event_ts": "1799999999.000100"}
    response, _ = slack.event(event)
    assert response.status == 200
    slack.executor.drain()
    (note,) = slack.fake.calls_to("chat.postEphemeral")
    assert note.params["user"] == "U2" and note.params["thread_ts"] == THREAD_TS
    assert "Summarizing 3 messages" in note.params["text"]
    slack.run_worker()
    (post,) = summary_posts(slack.fake)
    assert post.method == "chat.postMessage" and post.params["thread_ts"] == THREAD_TS


def test_mention_outside_a_thread_explains_itself(slack: SlackHarness) -> None:
    event = {"type": "app_mention", "user": "U2", "text": "<@UBOT> summarize", "ts": "1799999999.000200",
             "channel": CHANNEL, "event_ts": "1799999999.000200"}
    slack.event(event)
    slack.executor.drain()
    (note,) = slack.fake.calls_to("chat.postEphemeral")
    assert "inside a thread" in note.params["text"]
    assert not slack.job_ids()
