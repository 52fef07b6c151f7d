"""Limits and bad input: huge channels, empty threads, malformed payloads, a missing model, and
delivery that never posts twice when a job is retried."""

from __future__ import annotations

import json
import time

import pytest
from fakes.slack_api import FakeSlackAPI
from redis import Redis
from rq.registry import FailedJobRegistry
from slack_helpers import CHANNEL, THREAD_TS, SlackHarness, make_harness, summary_posts

from bot.queue import SummaryJob, summary_queue
from bot.slack_app import deliver
from bot.slack_app.blocks import escape
from bot.slack_app.blocks import summary_posts as layout
from bot.slack_app.flow import MALFORMED
from bot.store import Store
from config.settings import Settings, set_active_settings
from worker.delivery import DeliveredSummary, TransientDeliveryError
from worker.jobs import store_for

LONG = " ".join(f"Point {i}: the team agreed on item {i} & moved on." for i in range(2500))  # ~130k chars


def _sections(call: object) -> list[str]:
    blocks = call.params["blocks"]  # type: ignore[attr-defined]
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_huge_channel_is_capped_at_max_messages_and_the_user_is_told(
    slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis
) -> None:
    capped = slack_settings.model_copy(update={"max_messages": 3})
    harness = make_harness(capped, fake_slack, redis_conn)
    harness.command("")
    harness.executor.drain()
    # Newest first: the deleted message, then the thread (its parent and first reply fill the cap).
    assert len(fake_slack.calls_to("conversations.history")) == 2  # 3 messages at 2 a page, no more
    (job,) = harness.jobs()
    assert job.args[0]["message_count"] == 2
    assert "review the migration" in job.args[0]["dialogue"] and "ship the release" not in job.args[0]["dialogue"]
    (note,) = [c.params["text"] for c in fake_slack.calls_to("response_url") if "Summarizing" in c.params["text"]]
    assert "more messages than I read at once (3)" in note and "/summarize 2h" in note
    harness.executor.shutdown()


def test_a_range_within_the_cap_says_nothing_about_a_cap(slack: SlackHarness) -> None:
    slack.command("2h")
    slack.executor.drain()
    (note,) = [c.params["text"] for c in slack.fake.calls_to("response_url") if "Summarizing" in c.params["text"]]
    assert "Summarizing 7 messages" in note and "read at once" not in note


def test_a_thread_of_bot_messages_has_nothing_to_summarize(slack: SlackHarness) -> None:
    parent = slack.fake.add_message("C3", None, "Deploy started", time.time() - 100, bot_id="B9",
                                    subtype="bot_message", reply_count=1)
    parent["thread_ts"] = parent["ts"]
    slack.fake.add_message("C3", None, "Deploy done", time.time() - 50, bot_id="B9", subtype="bot_message",
                           thread_ts=parent["ts"])
    event = {"type": "app_mention", "user": "U2", "text": "<@UBOT> summarize", "ts": "1799999999.000300",
             "channel": "C3", "thread_ts": parent["ts"], "event_ts": "1799999999.000300"}
    slack.event(event)
    slack.executor.drain()
    (note,) = slack.fake.calls_to("chat.postEphemeral")
    assert "nothing to summarize" in note.params["text"] and note.params["user"] == "U2"
    assert not slack.job_ids() and not slack.fake.calls_to("chat.postMessage")


def test_malformed_payloads_get_a_clear_answer_and_crash_nothing(slack: SlackHarness) -> None:
    # A shortcut without its message must not fall back to summarizing the whole channel in public.
    shortcut = {"type": "message_action", "callback_id": "recap_summarize_thread", "trigger_id": "t-x",
                "team": {"id": "T1"}, "channel": {"id": CHANNEL}, "user": {"id": "U1"},
                "response_url": slack.fake.response_url("bad-sc"), "token": "legacy"}
    first, _ = slack.interactive(shortcut)
    garbage_vote, _ = slack.interactive({"type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"},
                                         "response_url": slack.fake.response_url("bad-act"),
                                         "actions": [{"action_id": "recap_vote_up", "value": "DROP TABLE"}]})
    no_event, _ = slack.dispatch(json.dumps({"type": "event_callback", "team_id": "T1"}), "application/json")
    body = slack.command_body("").replace("trigger_id=trigger-", "other=")  # no trigger_id at all
    no_trigger, _ = slack.dispatch(body, "application/x-www-form-urlencoded")
    slack.executor.drain()
    assert first.status == 200 and garbage_vote.status == 200 and no_trigger.status == 200
    assert no_event.status < 500
    assert all(f.exception() is None for f in slack.executor.futures)
    notes = [c.params["text"] for c in slack.fake.calls_to("response_url")]
    assert notes.count(MALFORMED) == 2  # the shortcut and the command without a trigger_id
    assert not slack.fake.calls_to("conversations.history") and not slack.job_ids()
    assert not slack.fake.calls_to("chat.postMessage")


def test_a_vote_the_store_cannot_keep_is_answered(slack: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database is down")

    monkeypatch.setattr(Store, "get_summary", down)
    response, _ = slack.action("recap_vote_up", "1")
    slack.executor.drain()
    assert response.status == 200
    (note,) = slack.fake.calls_to("response_url")
    assert "could not record your vote" in note.params["text"]


def test_a_missing_model_reaches_the_user_and_the_failed_registry(slack: SlackHarness, tmp_path: object) -> None:
    set_active_settings(slack.settings.model_copy(update={"model": f"{tmp_path}/no-such-model"}))
    slack.command("")
    slack.executor.drain()
    slack.run_worker()
    (job_id,) = slack.job_ids()
    registry = FailedJobRegistry(queue=summary_queue(slack.settings, slack.redis))
    assert job_id in registry.get_job_ids()
    job = summary_queue(slack.settings, slack.redis).fetch_job(job_id)
    assert job is not None and "ModelLoadError" in (job.latest_result().exc_string or "")
    notices = [c for c in slack.fake.posts() if ":warning:" in c.params.get("text", "")]
    assert len(notices) == 1 and "RECAP_MODEL" in notices[0].params["text"]
    assert notices[0].method in ("response_url", "chat.postEphemeral")  # private
    assert not summary_posts(slack.fake)


def test_long_summaries_fit_slack_message_limits() -> None:
    posts = layout(LONG, 9, 40, private=True)
    assert len(posts) > 1
    for number, post in enumerate(posts):
        assert len(post.blocks) <= 50 and len(post.text) <= 3000
        assert sum(len(json.dumps(b)) for b in post.blocks) <= 40_000
        assert (post.blocks[0]["type"] == "context") == (number == 0)  # the header once
        assert (post.blocks[-1]["type"] == "actions") == (number == len(posts) - 1)  # buttons once
    parts = [b["text"]["text"] for post in posts for b in post.blocks if b["type"] == "section"]
    assert " ".join(parts) == escape(LONG)


def _job(**destination: str) -> SummaryJob:
    return SummaryJob(request_id="slack:T1:retry", platform="slack", dialogue="-", channel=CHANNEL,
                      thread=THREAD_TS if not destination else None, requester="U1",
                      public=not destination, destination=dict(destination))


def test_a_retried_delivery_never_posts_a_part_twice(slack: SlackHarness) -> None:
    """Part 2 gets a long 429 (the job is rescheduled); the retry posts what is left, a later retry nothing."""
    summary = DeliveredSummary(5, LONG, "m", None, "v1", 40)
    expected = [_sections_of(post) for post in layout(LONG, 5, 40, private=False)]
    slack.fake.rate_limit_after["chat.postMessage"] = (1, 40)
    with pytest.raises(TransientDeliveryError) as limited:
        deliver.deliver(_job(), summary, slack.settings)
    assert limited.value.retry_after_s == 40  # Slack's own wait, for the worker's reschedule
    reference = deliver.deliver(_job(), summary, slack.settings)
    again = deliver.deliver(_job(), summary, slack.settings)  # e.g. the job failed after posting
    posted = [_sections(call) for call in slack.fake.posts()]
    assert posted == expected
    first = slack.fake.calls_to("chat.postMessage")[0]
    assert first.accepted and reference == again == f"{CHANNEL}:{first.response['ts']}"


def _sections_of(post: object) -> list[str]:
    return [b["text"]["text"] for b in post.blocks if b["type"] == "section"]  # type: ignore[attr-defined]


def test_private_parts_fall_back_once_the_response_url_is_used_up(slack: SlackHarness) -> None:
    slack.fake.response_url_uses["busy"] = 4  # "Summarizing…" and other notes used four of its five posts
    summary = DeliveredSummary(6, LONG, "m", None, "v1", 40)
    deliver.deliver(_job(response_url=slack.fake.response_url("busy")), summary, slack.settings)
    posts = slack.fake.posts()
    assert [c.method for c in posts] == ["response_url"] + ["chat.postEphemeral"] * (len(posts) - 1)
    assert [_sections(c) for c in posts] == [_sections_of(p) for p in layout(LONG, 6, 40, private=True)]
    assert all(c.params["user"] == "U1" for c in posts[1:])


def test_a_job_failing_after_its_post_is_retried_without_a_second_post(
    slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chat.postMessage succeeded, then the job failed (transiently) and RQ ran it again."""
    quick = slack_settings.model_copy(update={"retry_intervals_s": [0]})
    set_active_settings(quick)
    slack = make_harness(quick, fake_slack, redis_conn)
    slack.shortcut(message_ts=THREAD_TS)
    slack.executor.drain()
    original = Store.mark_delivered
    failures = iter([ConnectionError("store connection reset")])

    def flaky(self: Store, summary_id: int, message_ref: str | None) -> None:
        for error in failures:
            raise error
        original(self, summary_id, message_ref)

    monkeypatch.setattr(Store, "mark_delivered", flaky)
    slack.run_worker()
    slack.run_worker()  # the retry
    assert len(summary_posts(slack.fake)) == 1
    (job_id,) = slack.job_ids()
    job = summary_queue(slack.settings, slack.redis).fetch_job(job_id)
    assert job is not None and job.get_status() == "finished"
    row = store_for(slack.settings).recent_summaries()[0]
    assert row.delivered_at is not None
    assert row.message_ref == f"{CHANNEL}:{summary_posts(slack.fake)[0].response['ts']}"
    slack.executor.shutdown()
