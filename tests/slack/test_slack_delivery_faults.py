"""Delivery against Slack's failure modes (issue 12): long 429s, a response_url answered too late,
empty model output, hostile links, and a failure notice that cannot go the usual way.

Rate-limit answers follow https://api.slack.com/apis/rate-limits (HTTP 429, ``Retry-After``);
response_url posts follow https://api.slack.com/interactivity/handling#message_responses.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from fakes.slack_api import FakeSlackAPI
from redis import Redis
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from slack_helpers import CHANNEL, THREAD_TS, SlackHarness, make_harness, posted_text, summary_posts

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.queue import SummaryJob, summary_queue
from bot.slack_app import deliver
from bot.store import store_for
from config.settings import Settings, set_active_settings

# A live link as Slack's auto-linker would see one: a scheme, or a host with a dot before a TLD.
LIVE_LINK = re.compile(r"(?i)\b(?:https?|mailto|ftp)://|<https?:|(?<![\w\u200b-])[a-z0-9-]+\.(?:com|org|io|net|dev)\b")


def _job(request_id: str, **destination: str) -> SummaryJob:
    public = not destination
    return SummaryJob(request_id=request_id, platform="slack", dialogue="-", channel=CHANNEL,
                      thread=THREAD_TS if public else None, requester="U1", public=public,
                      destination={**destination, "user": "U1"})


def test_three_long_rate_limits_reschedule_with_slacks_wait_then_post_once(slack: SlackHarness) -> None:
    """429 with Retry-After: 40 three times on chat.postMessage: each attempt fails fast with Slack's
    wait (no worker held for 40 s, no post), and the attempt after the limit posts exactly once."""
    slack.fake.rate_limit_times["chat.postMessage"] = [3, 40]
    summary = DeliveredSummary(11, "Alice ships on Friday.", "m", None, "v1", 4)
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError) as limited:
            deliver.deliver(_job("slack:T1:limited"), summary, slack.settings)
        assert limited.value.retry_after_s == 40
        assert time.monotonic() - started < 5  # not slept in place
    reference = deliver.deliver(_job("slack:T1:limited"), summary, slack.settings)
    assert len(summary_posts(slack.fake)) == 1
    assert reference == f"{CHANNEL}:{summary_posts(slack.fake)[0].response['ts']}"


def test_a_short_rate_limit_is_waited_out_in_place(slack: SlackHarness) -> None:
    slack.fake.rate_limit_times["chat.postMessage"] = [1, 1]
    deliver.deliver(_job("slack:T1:short"), DeliveredSummary(12, "Done.", "m", None, "v1", 2), slack.settings)
    calls = slack.fake.calls_to("chat.postMessage")
    assert [c.accepted for c in calls] == [False, True] and calls[1].at - calls[0].at >= 1.0


@pytest.mark.slow
def test_a_response_url_post_answered_after_20_s_is_not_posted_again(slack: SlackHarness) -> None:
    """Slack applied the private summary but answered 20 s later (past our timeout): one copy only,
    on this attempt and on any retry of the job."""
    slack.fake.delays["response_url"] = 20
    job = _job("slack:T1:slow", response_url=slack.fake.response_url("slow"))
    summary = DeliveredSummary(13, "Bob reviews the migration.", "m", None, "v1", 3)
    deliver.deliver(job, summary, slack.settings)
    slack.fake.delays["response_url"] = 0
    deliver.deliver(job, summary, slack.settings)  # e.g. the job is retried after a later error
    shown = summary_posts(slack.fake)
    assert [call.method for call in shown] == ["response_url"]
    (offer,) = [c for c in slack.fake.posts() if "recap_show_again" in posted_text(c)]
    assert offer.method == "chat.postEphemeral" and offer.params["user"] == "U1"  # in case it was lost


def test_show_again_is_for_the_requester_and_old_buttons_get_an_answer(slack: SlackHarness) -> None:
    slack.command("2h", response_url=slack.fake.response_url("first"))
    slack.executor.drain()
    slack.run_worker()
    row = store_for(slack.settings).recent_summaries()[0]
    assert len(summary_posts(slack.fake)) == 1
    slack.action("recap_show_again", str(row.id), user="U2")  # not the requester: sees nothing of it
    slack.action("recap_show_again", str(row.id), user="U1")
    slack.action("recap_vote_sideways", str(row.id), user="U1")  # a button of an older version
    slack.executor.drain()
    assert len(summary_posts(slack.fake)) == 2
    notes = [c.params.get("text", "") for c in slack.fake.posts() if not summary_posts_has(c)]
    assert any("no longer stored" in n for n in notes) and any("older version" in n for n in notes)


def summary_posts_has(call: object) -> bool:
    return "recap_vote_up" in posted_text(call)


def test_empty_model_output_becomes_a_failure_message(slack: SlackHarness) -> None:
    for number, text in enumerate(["", "   \n "]):
        job = _job(f"slack:T1:empty{number}", response_url=slack.fake.response_url(f"e{number}"))
        assert deliver.deliver(job, DeliveredSummary(20 + number, text, "m", None, "v1", 5), slack.settings) is None
    posts = slack.fake.posts()
    assert len(posts) == 2 and not summary_posts(slack.fake)
    assert all("empty summary" in call.params["text"] for call in posts)
    assert not any("Recap summary" in posted_text(call) for call in posts)


def test_model_written_links_are_never_live(slack: SlackHarness) -> None:
    hostile = ("Visit https://evil.example.com/login now, or <https://phish.io|the docs>, see "
               "[link: docs.google.com] and www.bank.net, mail ceo@corp.com, [here](http://x.dev/a).")
    deliver.deliver(_job("slack:T1:links"), DeliveredSummary(30, hostile, "m", None, "v1", 5), slack.settings)
    (post,) = summary_posts(slack.fake)
    shown = json.loads(posted_text(post))
    texts = [shown["text"]] + [b["text"]["text"] for b in shown["blocks"] if b["type"] == "section"]
    for text in texts:
        assert not LIVE_LINK.search(text), text
        assert "evil" in text and "docs" in text  # still readable
    assert post.params["unfurl_links"] in (False, "0", "false", "False")


def test_the_failure_notice_falls_back_to_a_dm(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    """The response_url expired and chat.postEphemeral is refused (the requester left the channel):
    the notice comes as a DM from Recap."""
    fake_slack.expired_urls.add("gone")
    fake_slack.errors["chat.postEphemeral"] = "user_not_in_channel"
    job = _job("slack:T1:notice", response_url=fake_slack.response_url("gone"))
    deliver.notify_failure(job, "The summary could not be delivered.", slack.settings)
    (dm,) = [c for c in fake_slack.posts() if c.method == "chat.postMessage"]
    assert dm.params["channel"] == "DU1" and "could not be delivered" in dm.params["text"]


def test_the_failure_notice_waits_out_a_short_limit(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    fake_slack.rate_limit_times["chat.postEphemeral"] = [1, 1]
    deliver.notify_failure(_job("slack:T1:notice2", response_url=""), "Try again later.", slack.settings)
    (notice,) = fake_slack.posts()
    assert notice.method == "chat.postEphemeral" and "Try again later." in notice.params["text"]


def _release_due(settings: Settings, redis: Redis) -> float:
    """End the wait of the one scheduled job (as time passing would) and let RQ's scheduler enqueue it;
    returns how far ahead the job had been scheduled."""
    queue = summary_queue(settings, redis)
    registry = ScheduledJobRegistry(queue=queue)
    (job_id,) = registry.get_job_ids()
    ahead = (redis.zscore(registry.key, job_id) or 0) - time.time()
    redis.zadd(registry.key, {job_id: time.time() - 1})
    scheduler = RQScheduler([queue], connection=redis)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()
    return ahead


def test_a_worker_reschedules_three_40_s_limits_and_posts_once(
    slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis
) -> None:
    """Through the real worker: each 429 (Retry-After: 40) puts the job in RQ's scheduled registry for
    now + 40 s (not RQ's fixed intervals); after the third, the summary is posted exactly once."""
    settings = slack_settings.model_copy(update={"job_retries": 4, "retry_intervals_s": [0]})
    set_active_settings(settings)
    harness = make_harness(settings, fake_slack, redis_conn)
    harness.shortcut(message_ts=THREAD_TS)
    harness.executor.drain()
    fake_slack.rate_limit_times["chat.postMessage"] = [3, 40]
    for _ in range(3):
        harness.run_worker()
        assert not summary_posts(fake_slack)
        assert 35 <= _release_due(settings, redis_conn) <= 41
    harness.run_worker()
    assert len(summary_posts(fake_slack)) == 1
    assert [c.accepted for c in fake_slack.calls_to("chat.postMessage")] == [False, False, False, True]
    row = store_for(settings).recent_summaries()[0]
    assert row.delivered_at is not None
    harness.executor.shutdown()


def test_a_limit_past_the_delivery_window_tells_the_requester(
    slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis
) -> None:
    settings = slack_settings.model_copy(update={"job_retries": 4, "delivery_windows_s": {"slack": 600}})
    set_active_settings(settings)
    harness = make_harness(settings, fake_slack, redis_conn)
    harness.command("2h", response_url=fake_slack.response_url("late"))
    harness.executor.drain()
    fake_slack.expired_urls.add("late")  # the private summary then goes by chat.postEphemeral...
    fake_slack.rate_limit_times["chat.postEphemeral"] = [1, 3600]  # ...which is limited for an hour
    harness.run_worker()
    assert not summary_posts(fake_slack)
    assert not ScheduledJobRegistry(queue=summary_queue(settings, redis_conn)).get_job_ids()
    (notice,) = [c for c in fake_slack.posts() if "Summarizing" not in c.params.get("text", "")
                 and "Reading" not in c.params.get("text", "")]
    assert notice.params["user"] == "U1" or notice.params.get("channel") == "DU1"
    row = store_for(settings).recent_summaries()[0]
    assert row.delivered_at is None  # stored, undelivered
    harness.executor.shutdown()


def test_a_long_limit_on_the_notice_is_handed_to_the_worker(slack: SlackHarness, fake_slack: FakeSlackAPI) -> None:
    """No DM racing a rate limit: the worker sends the notice again after Slack's wait (worker.notices)."""
    fake_slack.rate_limit_times["chat.postEphemeral"] = [1, 30]
    with pytest.raises(TransientDeliveryError) as limited:
        deliver.notify_failure(_job("slack:T1:notice3", response_url=""), "Try again later.", slack.settings)
    assert limited.value.retry_after_s == 30 and not fake_slack.posts()
