"""Recovery: a bot process that dies mid-request, replies to older threads, and a post whose answer was lost."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fakes.slack_api import FakeSlackAPI
from redis import Redis
from slack_helpers import CHANNEL, NOW, THREAD_TS, SlackHarness, make_harness, summary_posts

from bot.queue import summary_queue
from bot.slack_app import flow
from config.settings import Settings, set_active_settings
from worker.jobs import store_for


class Crash(BaseException):
    """The bot process dying: no handler of ours runs (SystemExit / SIGKILL stand-in)."""


def _mention(ts: str = "1799999999.000100") -> dict[str, Any]:
    return {"type": "app_mention", "user": "U2", "text": "<@UBOT> summarize", "ts": ts, "channel": CHANNEL,
            "thread_ts": THREAD_TS, "event_ts": ts}


def test_retry_after_a_crash_between_claim_and_enqueue_is_processed(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is taken, the process dies before the job is queued (no release): once the short
    processing claim has lapsed, Slack's retry of the event is processed, and gives one job."""
    monkeypatch.setattr(flow, "PROCESSING_TTL_S", 1, raising=False)
    real_enqueue = flow.enqueue_summary

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(flow, "enqueue_summary", crash)
    slack.event(_mention(), event_id="Ev77")
    with pytest.raises(Crash):
        slack.executor.drain()
    assert not slack.job_ids()
    assert slack.redis.ttl("recap:claim:slack:T1:Ev77") <= 1  # short while processing, not 24 h

    monkeypatch.setattr(flow, "enqueue_summary", real_enqueue)  # "restarted"
    time.sleep(1.2)
    slack.event(_mention(), event_id="Ev77", extra={"X-Slack-Retry-Num": "1"})
    slack.executor.drain()
    assert len(slack.job_ids()) == 1
    assert slack.redis.ttl("recap:claim:slack:T1:Ev77") > 3600  # queued: now a repeat is ignored for long
    slack.event(_mention(), event_id="Ev77", extra={"X-Slack-Retry-Num": "2"})
    slack.executor.drain()
    assert len(slack.job_ids()) == 1
    assert len(slack.fake.calls_to("chat.postEphemeral")) == 1  # one "Summarizing…" note


def _older_thread(fake: FakeSlackAPI) -> None:
    """A thread started 30 h ago (before the default 24 h window), answered 29 h ago and 10 min ago."""
    parent = fake.add_message(CHANNEL, "U1", "Who owns the flaky payment test these days?", NOW - 30 * 3600)
    fake.add_message(CHANNEL, "U3", "Not me, I moved to the search team.", NOW - 29 * 3600, thread_ts=parent["ts"])
    late = fake.add_message(CHANNEL, "U2", "I can take it over, I wrote that module.", NOW - 600,
                            thread_ts=parent["ts"])
    parent.update(thread_ts=parent["ts"], reply_count=2, latest_reply=late["ts"])


def test_summarize_includes_window_replies_to_an_older_thread_with_its_parent(slack: SlackHarness) -> None:
    _older_thread(slack.fake)
    slack.command("")
    slack.executor.drain()
    (job,) = slack.jobs()
    dialogue = job.args[0]["dialogue"]
    assert "I can take it over" in dialogue  # the reply inside the window
    assert "flaky payment test" in dialogue  # its parent, as context
    assert "search team" not in dialogue  # the reply before the window stays out
    assert dialogue.index("flaky payment test") < dialogue.index("I can take it over")
    assert job.args[0]["message_count"] == 9  # the 7 seeded messages kept, plus parent and reply


def test_older_threads_respect_max_messages(
    slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis
) -> None:
    _older_thread(fake_slack)
    for offset in range(3):  # more than the cap in the window itself
        fake_slack.add_message(CHANNEL, "U1", f"Standup note number {offset} for today.", NOW - 60 + offset)
    capped = slack_settings.model_copy(update={"max_messages": 4})
    slack = make_harness(capped, fake_slack, redis_conn)
    slack.command("")
    slack.executor.drain()
    (job,) = slack.jobs()
    assert job.args[0]["message_count"] <= 4
    assert "flaky payment test" not in job.args[0]["dialogue"]  # the newest messages are kept
    slack.executor.shutdown()


@pytest.mark.parametrize("where", ["thread", "channel"])
def test_a_post_whose_answer_was_lost_is_adopted_not_posted_again(
    where: str, slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis
) -> None:
    """Slack accepts chat.postMessage, then the connection drops before the answer: the job is retried
    and finds its own post by the `recap_summary` metadata instead of posting a second summary."""
    quick = slack_settings.model_copy(update={"retry_intervals_s": [0]})
    set_active_settings(quick)
    fake_slack.keep_posts = True  # as on Slack, the post joins the thread / channel history
    slack = make_harness(quick, fake_slack, redis_conn)
    if where == "thread":
        slack.shortcut(message_ts=THREAD_TS)
    else:
        slack.command("public")
    slack.executor.drain()
    fake_slack.lose_response["chat.postMessage"] = 1
    slack.run_worker()
    slack.run_worker()  # the retry, if the first burst did not already run it
    (post,) = summary_posts(fake_slack)
    assert post.params["metadata"]["event_type"] == "recap_summary"
    search = "conversations.replies" if where == "thread" else "conversations.history"
    assert any(c.params.get("include_all_metadata") for c in fake_slack.calls_to(search))
    (job_id,) = slack.job_ids()
    job = summary_queue(slack.settings, slack.redis).fetch_job(job_id)
    assert job is not None and job.get_status() == "finished"
    row = store_for(slack.settings).recent_summaries()[0]
    assert row.message_ref == f"{CHANNEL}:{post.response['ts']}"  # the adopted post, e.g. for reactions
    slack.executor.shutdown()
