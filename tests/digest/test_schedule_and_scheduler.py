"""DST-safe schedule times, the leader lock, two schedulers at once, and the catch-up policy."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import CHANNEL, DigestSlackFake, run_worker, seed_day
from redis import Redis

from bot.digest.schedule import ScheduleError, latest_occurrence, next_occurrence, occurrence_on, parse_timezone
from bot.digest.scheduler import DigestScheduler, LeaderLock, digest_job_id
from bot.store import Store
from bot.store.digest import POSTED, QUEUED, SKIPPED, RunKey, get_run, runs_for, save_schedule
from config.settings import Settings

NEW_YORK = ZoneInfo("America/New_York")


def enable(store: Store, at: str, tz: str, since: datetime, channel: str = CHANNEL) -> None:
    save_schedule(
        store,
        "slack",
        channel,
        workspace="T1",
        channel_name="general",
        target_channel=channel,
        time_of_day=at,
        timezone=tz,
        now=since,
    )


def test_dst_changes_keep_the_local_time() -> None:
    """Issue test 5 (pure part): 09:00 New York is 14:00 UTC in winter and 13:00 UTC in summer."""
    nine = time(9, 0)
    assert occurrence_on(date(2024, 3, 9), nine, NEW_YORK).at == datetime(2024, 3, 9, 14, 0, tzinfo=UTC)
    assert occurrence_on(date(2024, 3, 10), nine, NEW_YORK).at == datetime(2024, 3, 10, 13, 0, tzinfo=UTC)
    assert occurrence_on(date(2024, 11, 3), nine, NEW_YORK).at == datetime(2024, 11, 3, 14, 0, tzinfo=UTC)
    # 02:30 does not exist on 10 March (clocks jump 02:00 -> 03:00): it runs at the shifted 03:30 EDT.
    gap = occurrence_on(date(2024, 3, 10), time(2, 30), NEW_YORK)
    assert gap.at == datetime(2024, 3, 10, 7, 30, tzinfo=UTC) and gap.at.astimezone(NEW_YORK).hour == 3
    # 01:30 happens twice on 3 November: the first one (EDT, 05:30 UTC), once.
    first = occurrence_on(date(2024, 11, 3), time(1, 30), NEW_YORK)
    assert first.at == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    after_both = datetime(2024, 11, 3, 7, 0, tzinfo=UTC)  # past the second 01:30 too
    assert latest_occurrence(after_both, time(1, 30), NEW_YORK) == first
    assert next_occurrence(first.at, time(1, 30), NEW_YORK).local_date == date(2024, 11, 4)
    with pytest.raises(ScheduleError, match="IANA"):
        parse_timezone("Mars/Olympus")


def test_scheduler_keeps_local_time_across_spring_forward(
    digest_settings: Settings, store: Store, redis_conn: Redis
) -> None:
    """Issue test 5 (scheduler): one digest a day at 09:00 local, on both sides of the change."""
    enable(store, "09:00", "America/New_York", since=datetime(2024, 3, 8, tzinfo=UTC))
    ticker = DigestScheduler(digest_settings, store, redis_conn)
    enqueued = []
    now = datetime(2024, 3, 8, 12, 0, tzinfo=UTC)
    while now < datetime(2024, 3, 12, 12, 0, tzinfo=UTC):  # every 30 minutes over four days
        enqueued += [(now, key) for key in ticker.tick(now).enqueued]
        now += timedelta(minutes=30)
    assert [(at.astimezone(NEW_YORK).strftime("%d %H:%M"), key.rsplit(":", 1)[1]) for at, key in enqueued] == [
        ("08 09:00", "2024-03-08"),
        ("09 09:00", "2024-03-09"),
        ("10 09:00", "2024-03-10"),
        ("11 09:00", "2024-03-11"),
    ]
    assert [run.scheduled_for.hour for run in runs_for(store, "slack", CHANNEL)] == [14, 14, 13, 13]


def test_leader_lock_is_exclusive_renewable_and_released(redis_conn: Redis) -> None:
    first, second = LeaderLock(redis_conn, ttl_s=5), LeaderLock(redis_conn, ttl_s=5)
    assert first.acquire() and not second.acquire()
    redis_conn.pexpire(first.key, 50)
    assert first.acquire()  # renewal by the owner
    assert redis_conn.pttl(first.key) > 1000
    second.release()  # not the owner: no effect
    assert not second.acquire()
    first.release()
    assert second.acquire()


def test_two_schedulers_at_once_post_one_digest(
    fake_slack: DigestSlackFake, digest_settings: Settings, store: Store, redis_conn: Redis
) -> None:
    """Issue test 2: two scheduler instances tick concurrently, then one loses its lease to the other."""
    due = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    seed_day(fake_slack, due)
    enable(store, f"{due:%H:%M}", "UTC", since=due - timedelta(days=1))
    schedulers = [
        DigestScheduler(
            digest_settings, Store(digest_settings.store_url), Redis.from_url(digest_settings.redis_url), lock_ttl_s=30
        )
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)
    reports = []

    def tick(scheduler: DigestScheduler, minutes: int) -> None:
        barrier.wait()
        reports.append(scheduler.tick(due + timedelta(minutes=minutes)))

    threads = [threading.Thread(target=tick, args=(s, 1)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.leader for r in reports) == [False, True]
    assert sum(len(r.enqueued) for r in reports) == 1
    # The leader dies; its lease ends; the other takes over and must not enqueue the same digest again.
    redis_conn.delete("recap:digest:leader")
    leader = next(s for s, r in zip(schedulers, reports, strict=True) if not r.leader)
    takeover = leader.tick(due + timedelta(minutes=2))
    assert takeover.leader and takeover.enqueued == []
    run_worker(digest_settings, redis_conn)
    for scheduler in schedulers:  # after the post, nothing is due for either
        redis_conn.delete("recap:digest:leader")
        assert scheduler.tick(due + timedelta(minutes=5)).enqueued == []
    run_worker(digest_settings, redis_conn)
    assert len(fake_slack.digest_posts()) == 1


def test_downtime_within_grace_posts_late_once_and_longer_downtime_skips_with_a_log(
    fake_slack: DigestSlackFake,
    digest_settings: Settings,
    store: Store,
    redis_conn: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue test 4: the default grace period is 6 h."""
    assert digest_settings.digest_grace_hours == 6
    due = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    seed_day(fake_slack, due)
    enable(store, f"{due:%H:%M}", "UTC", since=due - timedelta(days=3))
    ticker = DigestScheduler(digest_settings, store, redis_conn)
    # Back up 3 h after the digest was due: it is posted late, once.
    assert len(ticker.tick(due + timedelta(hours=3)).enqueued) == 1
    assert ticker.tick(due + timedelta(hours=3, minutes=1)).enqueued == []
    run_worker(digest_settings, redis_conn)
    assert len(fake_slack.digest_posts()) == 1
    key = RunKey("slack", CHANNEL, due.date().isoformat())
    assert get_run(store, key).status == POSTED  # type: ignore[union-attr]

    # The next day's digest is missed by 7 h: no digest, a run marked skipped, one log line without text.
    caplog.set_level(logging.WARNING, logger="recap.digest.scheduler")
    tomorrow = due + timedelta(days=1)
    report = ticker.tick(tomorrow + timedelta(hours=7))
    assert report.enqueued == [] and len(report.skipped) == 1
    assert ticker.tick(tomorrow + timedelta(hours=7, minutes=1)).skipped == []  # logged once
    run_worker(digest_settings, redis_conn)
    assert len(fake_slack.digest_posts()) == 1
    skipped = get_run(store, RunKey("slack", CHANNEL, tomorrow.date().isoformat()))
    assert skipped is not None and skipped.status == SKIPPED
    (line,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "missed by 7.0 h (grace 6 h)" in line and "release" not in line
    assert not redis_conn.exists(f"rq:job:{digest_job_id(RunKey('slack', CHANNEL, tomorrow.date().isoformat()))}")


def test_a_schedule_enabled_after_todays_time_starts_tomorrow_and_lost_jobs_are_requeued(
    digest_settings: Settings, store: Store, redis_conn: Redis
) -> None:
    now = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    enable(store, "09:00", "UTC", since=now)
    ticker = DigestScheduler(digest_settings, store, redis_conn)
    assert ticker.tick(now + timedelta(minutes=5)).enqueued == []  # 09:00 today was before it was on
    tomorrow = datetime(2024, 6, 2, 9, 1, tzinfo=UTC)
    assert len(ticker.tick(tomorrow).enqueued) == 1
    redis_conn.flushdb()  # Redis lost the queue (and the lease) before a worker ran the job
    assert len(ticker.tick(tomorrow + timedelta(minutes=1)).enqueued) == 1  # the run is still queued: again
    assert get_run(store, RunKey("slack", CHANNEL, "2024-06-02")).status == QUEUED  # type: ignore[union-attr]
