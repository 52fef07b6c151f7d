"""Safety and limits: dedupe, signatures, mention defusing, Redis down, rate limit, 429, ack time."""

from __future__ import annotations

import time
from typing import Any

from fakes.slack_api import FakeSlackAPI
from redis import Redis
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from slack_helpers import CHANNEL, THREAD_TS, SlackHarness, make_harness, posted_text, summary_posts

from bot.queue import SummaryJob, summary_queue
from bot.slack_app import deliver
from config.settings import Settings, set_active_settings
from worker.delivery import DeliveredSummary

LIVE_MENTIONS = ("<!channel>", "<!here", "<!everyone>", "<@U123>", "@here", "@channel", "<http")


def _mention(ts: str = "1799999999.000100") -> dict[str, Any]:
    return {"type": "app_mention", "user": "U2", "text": "<@UBOT> summarize", "ts": ts, "channel": CHANNEL,
            "thread_ts": THREAD_TS, "event_ts": ts}


def test_retried_event_gives_one_job_and_one_post(slack: SlackHarness) -> None:
    """Issue test 3: Slack's retry (X-Slack-Retry-Num: 1) of an event already taken is a no-op."""
    slack.event(_mention(), event_id="Ev42")
    response, _ = slack.event(_mention(), event_id="Ev42",
                              extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert response.status == 200
    slack.executor.drain()
    assert len(slack.job_ids()) == 1
    assert len(slack.fake.calls_to("chat.postEphemeral")) == 1  # one "Summarizing…" note
    slack.run_worker()
    assert len(summary_posts(slack.fake)) == 1


def test_retry_of_an_event_that_was_never_processed_is_processed(slack: SlackHarness) -> None:
    slack.fake.errors["conversations.replies"] = "internal_error"
    slack.event(_mention(), event_id="Ev43")
    slack.executor.drain()
    assert not slack.job_ids()
    assert "try again" in slack.fake.calls_to("chat.postEphemeral")[0].params["text"]
    del slack.fake.errors["conversations.replies"]
    slack.event(_mention(), event_id="Ev43", extra={"X-Slack-Retry-Num": "1"})
    slack.executor.drain()
    assert len(slack.job_ids()) == 1


def test_forged_stale_and_tampered_requests_are_refused(slack: SlackHarness) -> None:
    """Issue test 4."""
    form = "application/x-www-form-urlencoded"
    body = slack.command_body("")
    bad, _ = slack.dispatch(body, form, signature="v0=" + "0" * 64)
    stale_ts = str(int(time.time()) - 6 * 60)
    stale, _ = slack.dispatch(body, form, timestamp=stale_ts)  # correctly signed, 6 minutes old
    tampered, _ = slack.dispatch(body.replace("text=", "text=100"), form,
                                 headers=slack.headers(body, form))  # signed before the change
    event_body = '{"type":"event_callback","team_id":"T1","event_id":"Ev9","event":{"type":"app_mention"}}'
    forged_event, _ = slack.dispatch(event_body, "application/json", signature="v0=" + "1" * 64)
    assert [r.status for r in (bad, stale, tampered, forged_event)] == [401, 401, 401, 401]
    slack.executor.drain()
    assert not slack.job_ids()
    assert [c.method for c in slack.fake.calls] == ["auth.test"]  # only the app's start-up check


def test_mentions_in_source_and_output_never_ping(slack: SlackHarness) -> None:
    """Issue test 5: `<!channel>`, `@here` and `<@U123>` in the source never come out live."""
    slack.fake.add_user("U123", "Dave")
    now = time.time()
    slack.fake.add_message("C2", "U1", "<!channel> the build is broken @here <@U123> please look", now - 60)
    slack.fake.add_message("C2", "U2", "<!here> fixing it, <@U123|dave> can you help?", now - 30)
    slack.command("", channel="C2")
    slack.executor.drain()
    (job,) = slack.jobs()
    dialogue = job.args[0]["dialogue"]
    assert "Dave" in dialogue
    assert not [m for m in LIVE_MENTIONS if m in dialogue]
    slack.run_worker()
    (post,) = summary_posts(slack.fake)
    assert not [m for m in LIVE_MENTIONS if m in posted_text(post)]


def test_generated_text_is_escaped_before_posting(slack: SlackHarness) -> None:
    """Whatever the model writes, the post cannot ping, link or inject markup."""
    job = SummaryJob(request_id="r1", platform="slack", dialogue="-", channel=CHANNEL, thread=THREAD_TS,
                     requester="U1", public=True)
    text = "Tell <!channel> and <!here|here> and @everyone, ask <@U123>, see <http://evil.example|this> & <b>"
    deliver.deliver(job, DeliveredSummary(1, text, "m", None, "v1", 2), slack.settings)
    (post,) = slack.fake.calls_to("chat.postMessage")
    shown = posted_text(post)
    assert not [m for m in (*LIVE_MENTIONS, "@everyone", "<b>") if m in shown]
    assert "&amp;" in shown and "&lt;b&gt;" in shown


def test_redis_down_gives_a_clear_reply_quickly(slack_settings: Settings, fake_slack: FakeSlackAPI,
                                                redis_conn: Redis) -> None:
    """Issue test 7."""
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1.0)
    harness = make_harness(slack_settings, fake_slack, redis_conn, app_redis=down)
    started = time.perf_counter()
    sent = [harness.command(""), harness.shortcut(message_ts=THREAD_TS), harness.event(_mention())]
    responses = [response for response, _ in sent]
    harness.executor.drain()
    elapsed = time.perf_counter() - started
    assert [r.status for r in responses] == [200, 200, 200]
    notes = [c.params["text"] for c in fake_slack.posts()]
    assert len(notes) == 3 and all("cannot reach its job queue" in note for note in notes)
    assert elapsed < 3.0, f"the Redis-down replies took {elapsed:.2f} s"
    assert all(f.exception() is None for f in harness.executor.futures)  # no listener crashed
    assert not fake_slack.calls_to("conversations.history")  # nothing read for a request we cannot queue
    harness.executor.shutdown()


def test_rate_limited_user_is_told_when_to_retry(slack_settings: Settings, fake_slack: FakeSlackAPI,
                                                 redis_conn: Redis) -> None:
    """Issue test 8."""
    limited = slack_settings.model_copy(update={"rate_limit_requests": 1})
    harness = make_harness(limited, fake_slack, redis_conn)
    harness.command("")
    harness.executor.drain()
    harness.command("")
    harness.executor.drain()
    assert len(harness.job_ids()) == 1
    last = fake_slack.calls_to("response_url")[-1].params["text"]
    assert "try again in about" in last
    harness.command("", user="U2")  # someone else is not limited
    harness.executor.drain()
    assert len(harness.job_ids()) == 2
    harness.executor.shutdown()


def test_429_is_retried_after_retry_after(slack: SlackHarness) -> None:
    """Issue test 9: collecting waits for Slack's Retry-After, then goes on."""
    slack.fake.rate_limit_once["conversations.history"] = 1
    slack.command("")
    slack.executor.drain()
    history = slack.fake.calls_to("conversations.history")
    assert not history[0].accepted and history[1].accepted
    assert history[1].params.get("cursor") is None  # the same page again
    assert history[1].at - history[0].at >= 1.0
    assert len(slack.job_ids()) == 1


def test_429_on_delivery_retries_the_job(slack_settings: Settings, fake_slack: FakeSlackAPI,
                                         redis_conn: Redis) -> None:
    quick = slack_settings.model_copy(update={"retry_intervals_s": [0]})
    set_active_settings(quick)
    harness = make_harness(quick, fake_slack, redis_conn)
    harness.shortcut(message_ts=THREAD_TS)
    harness.executor.drain()
    fake_slack.rate_limit_once["chat.postMessage"] = 30
    harness.run_worker()  # the 429 is transient: the job is rescheduled for its Retry-After (30 s)...
    registry = ScheduledJobRegistry(queue=summary_queue(quick, redis_conn))
    (job_id,) = registry.get_job_ids()
    assert (redis_conn.zscore(registry.key, job_id) or 0) >= time.time() + 25
    RQScheduler([summary_queue(quick, redis_conn)], connection=redis_conn).enqueue_scheduled_jobs()
    assert len(summary_posts(fake_slack)) == 0  # ...and is not due yet
    redis_conn.zadd(registry.key, {job_id: time.time() - 1})  # the wait is over
    scheduler = RQScheduler([summary_queue(quick, redis_conn)], connection=redis_conn)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()
    harness.run_worker()  # ...then it posts
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert len(summary_posts(fake_slack)) == 1
    harness.executor.shutdown()


def test_ack_is_well_under_three_seconds_with_slow_history(slack: SlackHarness) -> None:
    """Issue test 10: acks go back before any Web API or Redis work, however slow Slack is."""
    slack.fake.delays.update({"conversations.history": 1.5, "conversations.replies": 1.5})
    acks = {
        "command": slack.command("2"),
        "shortcut": slack.shortcut(message_ts=THREAD_TS),
        "mention": slack.event(_mention()),
    }
    for kind, (response, seconds) in acks.items():
        print(f"ack time {kind}: {seconds * 1000:.0f} ms")
        assert response.status == 200
        assert seconds < 1.0, f"{kind} ack took {seconds:.2f} s"
    assert "Reading the conversation" in acks["command"][0].body
    slack.executor.drain()
    assert len(slack.job_ids()) == 3  # the slow work still finished, after the acks


def test_a_failed_delivery_reaches_the_user_and_the_failed_registry(slack: SlackHarness) -> None:
    """Issue item 9: a permanent Slack error ends the job as failed and tells the requester privately."""
    from rq.registry import FailedJobRegistry

    from bot.queue import summary_queue

    slack.event(_mention())  # a mention has no response_url: the notice goes by chat.postEphemeral
    slack.executor.drain()
    slack.fake.errors["chat.postMessage"] = "channel_not_found"
    slack.run_worker()
    (job_id,) = slack.job_ids()
    registry = FailedJobRegistry(queue=summary_queue(slack.settings, slack.redis))
    assert job_id in registry.get_job_ids()
    notices = [c.params for c in slack.fake.calls_to("chat.postEphemeral") if ":warning:" in c.params["text"]]
    assert len(notices) == 1 and notices[0]["user"] == "U2" and notices[0]["thread_ts"] == THREAD_TS
