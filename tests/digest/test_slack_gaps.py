"""Slack digests: replies in the window to threads that started before it, a worker that dies between
Slack accepting a part and recording it, and the admin told (once) when a digest is refused at post time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import CHANNEL, OTHER, DigestSlackFake, due_time, run_worker
from redis import Redis
from slack_helpers import SlackHarness
from test_slack_digest import bullets, command, key_for, scheduler

import worker.digest_job as digest_job
from bot.store import Store
from bot.store.digest import POSTED, REFUSED, DigestRun, get_run
from config.settings import Settings


def test_replies_in_the_window_to_an_older_thread_are_collected(
    slack: SlackHarness, fake_slack: DigestSlackFake, digest_settings: Settings, store: Store, redis_conn: Redis
) -> None:
    """A thread started 30 h before the digest, answered in the window: its in-window replies (and the
    parent as context) make one bullet that links the parent; older replies and quiet threads stay out."""
    due = due_time()

    def at(hours_before: float) -> float:
        return (due - timedelta(hours=hours_before)).timestamp()

    add = fake_slack.add_message
    parent = add(CHANNEL, "U1", "Who owns the flaky payment integration test these days?", at(30))
    early = add(CHANNEL, "U3", "Not me, I moved to the search team last month.", at(29), thread_ts=parent["ts"])
    late_1 = add(CHANNEL, "U2", "I can take it over, I wrote most of that module.", at(5), thread_ts=parent["ts"])
    late_2 = add(CHANNEL, "UADMIN", "Thanks Bob, I assigned the ticket to you now.", at(4), thread_ts=parent["ts"])
    parent.update(thread_ts=parent["ts"], reply_count=3, latest_reply=late_2["ts"])
    quiet = add(CHANNEL, "U3", "Does anyone remember the wifi password for the lab?", at(40))
    answer = add(CHANNEL, "U1", "It is on the whiteboard next to the door.", at(39), thread_ts=quiet["ts"])
    quiet.update(thread_ts=quiet["ts"], reply_count=1, latest_reply=answer["ts"])
    first = add(CHANNEL, "U1", "The office is closed on Monday for the public holiday.", at(3))
    add(CHANNEL, "U2", "Thanks, I will work from home on Monday then.", at(2.9))
    assert early and late_1

    command(slack, f"digest on {due:%H:%M} UTC")
    scheduler(digest_settings, store, redis_conn).tick(due + timedelta(minutes=1))
    run_worker(digest_settings, redis_conn)

    (post,) = fake_slack.digest_posts()
    text = post.params["text"]
    assert "2 conversations, 4 messages" in text  # the window's own messages: not the parent, not the early reply
    thread_line, office_line = bullets(text)
    assert "Alice, Bob, Dana · 2 messages" in thread_line  # Carol only replied before the window
    assert thread_line.endswith(f"/archives/{CHANNEL}/p{parent['ts'].replace('.', '')}|first message>")
    assert "Alice, Bob · 2 messages" in office_line
    assert office_line.endswith(f"/archives/{CHANNEL}/p{first['ts'].replace('.', '')}|first message>")
    # The look-back is bounded (7 days before the window) and ends where the window starts.
    lookups = [c.params for c in fake_slack.calls_to("conversations.history") if c.params.get("latest")]
    start = (due - timedelta(hours=24)).timestamp()
    assert lookups and all(float(p["latest"]) == pytest.approx(start) for p in lookups)
    assert all(float(p["oldest"]) == pytest.approx(start - 7 * 86400) for p in lookups)
    replied = {c.params["ts"] for c in fake_slack.calls_to("conversations.replies")}
    assert quiet["ts"] not in replied  # its last reply was before the window: not even read


def test_a_part_posted_but_not_recorded_is_adopted_on_retry_not_posted_again(
    slack: SlackHarness,
    fake_slack: DigestSlackFake,
    digest_settings: Settings,
    store: Store,
    redis_conn: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker dies after Slack accepted the post and before its ref was saved: the retry finds the
    part by its `recap_digest` metadata (key and part) in the channel's history and adopts it."""
    due = due_time()
    at = (due - timedelta(hours=5)).timestamp()
    fake_slack.add_message(CHANNEL, "U1", "Shall we move the retro to Thursday afternoon this week?", at)
    fake_slack.add_message(CHANNEL, "U2", "Thursday is fine, I will update the calendar invite.", at + 60)
    fake_slack.add_message(CHANNEL, "U3", "Works for me too, see you all there on Thursday.", at + 120)
    command(slack, f"digest on {due:%H:%M} UTC")
    real_add = digest_job.add_posted_ref
    crashes: list[str] = []

    def die_once(store: Store, run_id: int, ref: str) -> list[str]:
        if not crashes:
            crashes.append(ref)
            raise ConnectionError("the worker lost the database right after Slack accepted the part")
        return real_add(store, run_id, ref)

    monkeypatch.setattr(digest_job, "add_posted_ref", die_once)
    scheduler(digest_settings, store, redis_conn).tick(due + timedelta(minutes=1))
    run_worker(digest_settings, redis_conn)  # attempt 1 posts then dies; attempt 2 adopts and finishes

    (post,) = fake_slack.digest_posts()  # exactly one post reached Slack
    assert len(bullets(post.params["text"])) == 1
    searches = [c.params for c in fake_slack.calls_to("conversations.history") if c.params.get("include_all_metadata")]
    assert len(searches) == 1 and searches[0]["channel"] == CHANNEL  # only the retry searched
    run = get_run(store, key_for(due))
    assert run is not None and run.status == POSTED
    assert crashes == run.posted_refs == [run.message_ref]  # the adopted ref is the one Slack accepted
    row = store.get_summary_by_request(key_for(due).request_id)
    assert row is not None and row.message_ref == run.message_ref


def test_refused_at_post_time_tells_the_admin_once(
    slack: SlackHarness, fake_slack: DigestSlackFake, digest_settings: Settings, store: Store, redis_conn: Redis
) -> None:
    """#general was public when its digest was set up to post in #announcements; it is private now."""
    due = due_time()
    at = (due - timedelta(hours=5)).timestamp()
    for offset, user in enumerate(("U1", "U2", "U3")):
        fake_slack.add_message(CHANNEL, user, f"Private plans for the merger, part {offset}, do not share", at + offset)
    assert "Daily digest is *on*" in command(slack, f"digest on {due:%H:%M} UTC <#{OTHER}|announcements>")
    fake_slack.channels[CHANNEL]["is_private"] = True

    ticker = scheduler(digest_settings, store, redis_conn)
    ticker.tick(due + timedelta(minutes=1))
    run_worker(digest_settings, redis_conn)
    run = get_run(store, key_for(due))
    assert run is not None and run.status == REFUSED
    posts = fake_slack.digest_posts()
    assert [p.params["channel"] for p in posts] == ["DUADMIN"]  # nothing in #announcements, one DM
    assert [c.params["users"] for c in fake_slack.calls_to("conversations.open")] == ["UADMIN"]
    note = posts[0].params["text"]
    assert "Today's daily digest of #general was not posted" in note
    assert "#general is private, so its digest can only be posted in #general itself" in note
    assert "merger" not in note

    # A retry of the job, and the scheduler's later ticks, neither post nor tell the admin again.
    assert digest_job.run_digest(_payload(run))["status"] == REFUSED
    ticker.tick(due + timedelta(minutes=5))
    run_worker(digest_settings, redis_conn)
    assert len(fake_slack.digest_posts()) == 1


def _payload(run: DigestRun) -> dict[str, object]:
    return {
        "version": 1,
        "platform": "slack",
        "workspace": "T1",
        "channel": CHANNEL,
        "local_date": run.local_date,
        "scheduled_for": run.scheduled_for.isoformat(),
    }
