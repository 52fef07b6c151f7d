"""Slack digests end to end: the real Bolt app for `/summarize digest`, the scheduler with an injected clock,
the inline worker with the tiny T5, and the fake Slack Web API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from conftest import CHANNEL, OTHER, SECRET, DigestSlackFake, due_time, run_worker, seed_day
from redis import Redis
from slack_helpers import SlackHarness, make_harness

from bot.digest.scheduler import DigestScheduler
from bot.store import Store
from bot.store.digest import POSTED, QUIET, RunKey, get_run, get_schedule
from config.settings import Settings


def command(slack: SlackHarness, text: str, user: str = "UADMIN", channel: str = CHANNEL) -> str:
    """Run `/summarize <text>` and return the private reply the digest command gave."""
    before = len(slack.fake.calls_to("response_url"))
    response, _ = slack.command(text, user=user, channel=channel)
    assert response.status == 200
    slack.executor.drain()
    replies = slack.fake.calls_to("response_url")[before:]
    assert len(replies) == 1
    assert replies[0].params.get("response_type") == "ephemeral"
    return str(replies[0].params["text"])


def scheduler(settings: Settings, store: Store, redis: Redis) -> DigestScheduler:
    return DigestScheduler(settings, store, redis, lock_ttl_s=30)


def bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• ")]


def key_for(due: datetime, channel: str = CHANNEL) -> RunKey:
    return RunKey("slack", channel, due.date().isoformat())


def test_enabled_digest_posts_once_with_a_bullet_and_permalink_per_conversation(
    slack: SlackHarness, fake_slack: DigestSlackFake, digest_settings: Settings, store: Store, redis_conn: Redis
) -> None:
    """Issue test 1."""
    due = due_time()
    firsts = seed_day(fake_slack, due)
    reply = command(slack, f"digest on {due:%H:%M} UTC")
    assert "Daily digest is *on*" in reply and f"{due:%H:%M} (UTC)" in reply

    ticker = scheduler(digest_settings, store, redis_conn)
    assert ticker.tick(due - timedelta(minutes=1)).enqueued == []  # not yet
    assert len(ticker.tick(due + timedelta(minutes=1)).enqueued) == 1
    assert ticker.tick(due + timedelta(minutes=2)).enqueued == []  # already queued
    run_worker(digest_settings, redis_conn)
    assert ticker.tick(due + timedelta(minutes=3)).enqueued == []  # already posted
    run_worker(digest_settings, redis_conn)

    (post,) = fake_slack.digest_posts()
    assert post.params["channel"] == CHANNEL and post.params["unfurl_links"] in (False, "false", "0", 0)
    text = post.params["text"]
    assert text.startswith("*Daily digest for #general · ")
    lines = bullets(text)
    assert len(lines) == 3  # the release talk, the migration thread, the office news; "ok" and the bot dropped
    for line, topic, names, count in zip(
        lines,
        ("release", "migration", "office"),
        ("Alice, Bob, Carol", "Bob, Alice, Carol", "Alice, Bob"),
        (3, 3, 2),
        strict=True,
    ):
        ts = firsts[topic].replace(".", "")
        assert line.endswith(f"<https://acme.slack.com/archives/{CHANNEL}/p{ts}|first message>")
        assert f"{names} · {count} messages" in line
    assert "Too late" not in json.dumps(post.params) and "Old news" not in json.dumps(post.params)
    # The digest is a Summary row (kind "digest"), tied to the posted message: reactions on it are feedback.
    run = get_run(store, key_for(due))
    assert run is not None and run.status == POSTED
    row = store.get_summary_by_request(key_for(due).request_id)
    assert row is not None and row.kind == "digest" and row.message_ref == run.message_ref
    channel, ts = run.message_ref.split(":")
    slack.event(
        {
            "type": "reaction_added",
            "user": "U2",
            "reaction": "+1",
            "item": {"type": "message", "channel": channel, "ts": ts},
        }
    )
    slack.executor.drain()
    assert [vote.rating for vote in store.votes(row.id)] == [1]
    blocks = json.dumps(post.params["blocks"])
    assert "recap_vote_up" in blocks and f'"value": "{row.id}"' in blocks


def test_retry_after_a_failure_in_the_middle_posts_one_digest(
    slack: SlackHarness,
    fake_slack: DigestSlackFake,
    digest_settings: Settings,
    store: Store,
    redis_conn: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue test 3: a 429 before posting, then a crash after posting but before the bookkeeping."""
    due = due_time()
    seed_day(fake_slack, due)
    command(slack, f"digest on {due:%H:%M} UTC")
    fake_slack.rate_limit_once["chat.postMessage"] = 1  # first attempt: nothing is posted
    real_mark = Store.mark_delivered
    failures = []

    def crash_once(self: Store, summary_id: int, message_ref: str | None) -> None:
        if not failures:
            failures.append(message_ref)
            raise ConnectionError("the database went away right after the post")
        real_mark(self, summary_id, message_ref)

    monkeypatch.setattr(Store, "mark_delivered", crash_once)
    scheduler(digest_settings, store, redis_conn).tick(due + timedelta(minutes=1))
    run_worker(digest_settings, redis_conn)  # attempt 1: 429; attempt 2: posts, then crashes; attempt 3 finishes

    assert len(fake_slack.calls_to("chat.postMessage")) == 2  # the refused one and the one that went out
    (posted,) = [c for c in fake_slack.digest_posts() if c is not fake_slack.calls_to("chat.postMessage")[0]]
    assert len(bullets(posted.params["text"])) == 3
    assert failures  # the crash did happen
    run = get_run(store, key_for(due))
    assert run is not None and run.status == POSTED and len(run.posted_refs) == 1
    row = store.get_summary_by_request(key_for(due).request_id)
    assert row is not None and row.delivered_at is not None and row.message_ref == run.message_ref


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_channel_gives_no_post_or_a_quiet_day_note(
    quiet: bool,
    slack: SlackHarness,
    fake_slack: DigestSlackFake,
    digest_settings: Settings,
    store: Store,
    redis_conn: Redis,
) -> None:
    """Issue test 6: two messages, under the default minimum of 3."""
    due = due_time()
    fake_slack.add_message(
        CHANNEL, "U1", "Is anyone around today to look at the flaky test?", (due - timedelta(hours=3)).timestamp()
    )
    fake_slack.add_message(
        CHANNEL, "U2", "Not me, sorry, I am travelling all day.", (due - timedelta(hours=2)).timestamp()
    )
    command(slack, f"digest on {due:%H:%M} UTC" + (" quiet" if quiet else ""))
    scheduler(digest_settings, store, redis_conn).tick(due + timedelta(minutes=1))
    run_worker(digest_settings, redis_conn)
    run = get_run(store, key_for(due))
    assert run is not None
    if quiet:
        (post,) = fake_slack.digest_posts()
        assert "A quiet day: fewer than 3 messages" in post.params["text"]
        assert bullets(post.params["text"]) == [] and run.status == POSTED
    else:
        assert fake_slack.digest_posts() == [] and run.status == QUIET


def test_non_admin_is_refused_and_settings_survive_a_restart(
    slack: SlackHarness,
    fake_slack: DigestSlackFake,
    digest_settings: Settings,
    redis_conn: Redis,
) -> None:
    """Issue test 7."""
    refused = command(slack, "digest on 08:30 Europe/Berlin", user="U1")
    assert "Only workspace admins and owners" in refused
    assert "Only workspace admins and owners" in command(slack, "digest show", user="U1")  # show is admin-only too
    assert "has no daily digest" in command(slack, "digest show", user="UADMIN")

    allowed = digest_settings.model_copy(update={"slack_digest_admins": ["U1"]})
    listed = make_harness(allowed, fake_slack, redis_conn)  # the allow-list makes U1 a digest admin
    try:
        assert "Daily digest is *on*" in command(listed, "digest on 08:30 Europe/Berlin 12h min=5 quiet", user="U1")
    finally:
        listed.executor.shutdown(wait=True)

    # A restart: a new app and a new Store object on the same database.
    restarted = make_harness(digest_settings, fake_slack, redis_conn)
    try:
        assert "Only workspace admins and owners" in command(restarted, "digest show", user="U3")
        shown = command(restarted, "digest show", user="UADMIN")
        assert "every day at 08:30 (Europe/Berlin)" in shown and "last 12 h" in shown
        assert "fewer than 5 messages" in shown and "quiet day" in shown
        schedule = get_schedule(Store(digest_settings.store_url), "slack", CHANNEL)
        assert schedule is not None and schedule.created_by == "U1" and schedule.enabled
        assert "off" in command(restarted, "digest off", user="UADMIN")
        assert "has no daily digest" in command(restarted, "digest show", user="UADMIN")
    finally:
        restarted.executor.shutdown(wait=True)


def test_private_channel_digest_into_a_public_channel_is_refused(
    slack: SlackHarness,
    fake_slack: DigestSlackFake,
    digest_settings: Settings,
    store: Store,
) -> None:
    """Issue test 8, and the other channel controls."""
    reply = command(slack, f"digest on 09:00 UTC <#{OTHER}|announcements>", channel=SECRET)
    assert "#secret-project is private, so its digest can only be posted in #secret-project itself" in reply
    assert "#announcements would show its content to people who are not members" in reply
    assert get_schedule(store, "slack", SECRET) is None
    assert "Daily digest is *on*" in command(slack, "digest on 09:00 UTC", channel=SECRET)  # into itself: fine

    fake_slack.add_channel("G8", "hidden", private=True, member=False)
    assert "private and I am not a member" in command(slack, "digest on", channel="G8")
    denied = digest_settings.model_copy(update={"digest_channel_deny": ["#general"]})
    harness = make_harness(denied, fake_slack, slack.redis)
    try:
        assert "deny-list" in command(harness, "digest on")
    finally:
        harness.executor.shutdown(wait=True)
    assert "Usage" in command(slack, "digest sometimes")


def test_digest_of_broadcast_mentions_pings_nobody(
    slack: SlackHarness, fake_slack: DigestSlackFake, digest_settings: Settings, store: Store, redis_conn: Redis
) -> None:
    """Issue test 9 (Slack): <!channel>, <!here>, @everyone and a user mention in the source text."""
    due = due_time()
    at = (due - timedelta(hours=4)).timestamp()
    fake_slack.add_user("U4", "<!channel> @everyone")  # even a display name tries it
    fake_slack.add_message(CHANNEL, "U1", "<!channel> the build is red, <@U2> please look @everyone", at)
    fake_slack.add_message(CHANNEL, "U4", "<!here> <!subteam^S1|@oncall> I am on it, @here stay calm", at + 60)
    fake_slack.add_message(CHANNEL, "U2", "Fixed it, <!everyone> can merge again, thanks <@U4>", at + 120)
    command(slack, f"digest on {due:%H:%M} UTC")
    scheduler(digest_settings, store, redis_conn).tick(due + timedelta(minutes=1))
    run_worker(digest_settings, redis_conn)
    (post,) = fake_slack.digest_posts()
    shown = json.dumps({"text": post.params["text"], "blocks": post.params["blocks"]}, ensure_ascii=False)
    for live in ("<!channel>", "<!here>", "<!everyone>", "<!subteam", "<@"):
        assert live not in shown
    assert "@everyone" not in shown and "@here" not in shown
    assert len(bullets(post.params["text"])) == 1
