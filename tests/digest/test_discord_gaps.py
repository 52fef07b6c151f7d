"""Discord digests: the window's messages of threads (channels of their own) that started before the
window, active or archived since; private threads stay out; and the admin told once about a refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import ANNOUNCE, DigestFakeDiscord, due_time, run_worker
from discord_helpers import ALICE, BOB, CAROL, CHANNEL, GUILD, SNOWFLAKE
from redis import Redis

from bot.digest.admin import store_for
from bot.digest.scheduler import DigestScheduler
from bot.store.digest import POSTED, REFUSED, RunKey, get_run, save_schedule
from config.settings import Settings, set_active_settings

DANA = {**ALICE, "id": str(SNOWFLAKE + 104), "username": "dana", "global_name": "Dana"}


def thread(fake: DigestFakeDiscord, thread_id: str, kind: int, archived_at: datetime | None) -> int:
    metadata = {
        "archived": archived_at is not None,
        "archive_timestamp": (archived_at or datetime.now(UTC)).isoformat(),
    }
    fake.threads.append(
        {
            "id": thread_id,
            "type": kind,
            "parent_id": str(CHANNEL),
            "guild_id": str(GUILD),
            "name": "t",
            "thread_metadata": metadata,
        }
    )
    return int(thread_id)


def enable(settings: Settings, due: datetime, target: int = CHANNEL) -> None:
    save_schedule(
        store_for(settings),
        "discord",
        str(CHANNEL),
        workspace=str(GUILD),
        channel_name="general",
        target_channel=str(target),
        time_of_day=f"{due:%H:%M}",
        timezone="UTC",
        created_by=ALICE["id"],
        now=datetime.now(UTC),
    )


def digest(settings: Settings, redis: Redis, due: datetime) -> Any:
    DigestScheduler(settings, store_for(settings), redis).tick(due + timedelta(minutes=1))
    run_worker(settings, redis)
    return get_run(store_for(settings), RunKey("discord", str(CHANNEL), due.date().isoformat()))


def test_discord_threads_started_before_the_window_are_collected(
    fake_discord: DigestFakeDiscord, dsettings: Settings, redis_conn: Redis
) -> None:
    due = due_time()
    add = fake_discord.add_message
    # An active thread started from a message 30 h ago, answered before and inside the window.
    starter = add(CHANNEL, ALICE, "Who owns the flaky payment integration test these days?", due - timedelta(hours=30))
    active = thread(fake_discord, starter["id"], 11, None)
    add(active, CAROL, "Not me, I moved to the search team last month.", due - timedelta(hours=29))
    add(active, BOB, "I can take it over, I wrote most of that module.", due - timedelta(hours=5))
    add(active, DANA, "Thanks Bob, I assigned the ticket to you now.", due - timedelta(hours=4))
    # A public thread not started from a message, archived after talk in the window.
    archived = thread(fake_discord, str(fake_discord.new_id(due - timedelta(hours=40))), 11, due - timedelta(hours=2))
    opener = add(
        archived, BOB, "Release checklist for version two, please add your items here.", due - timedelta(hours=6)
    )
    add(archived, CAROL, "Added the database migration and the changelog review.", due - timedelta(hours=5.5))
    # A private thread with talk in the window: its content must never reach the channel's digest.
    hidden = thread(fake_discord, str(fake_discord.new_id(due - timedelta(hours=35))), 12, None)
    add(hidden, ALICE, "Confidential salary numbers for the review, keep them here.", due - timedelta(hours=3))
    add(hidden, BOB, "Noted, the confidential numbers look right to me.", due - timedelta(hours=2.5))
    enable(dsettings, due)

    run = digest(dsettings, redis_conn, due)
    assert run is not None and run.status == POSTED
    (post,) = fake_discord.channel_posts(CHANNEL)
    content = post.body["content"]
    assert "2 conversations, 4 messages" in content
    first, second = [line for line in content.splitlines() if line.startswith("• ")]
    assert "Alice, Bob, Dana · 2 messages" in first  # the starter is context; Carol spoke before the window
    assert first.endswith(f"(<https://discord.com/channels/{GUILD}/{CHANNEL}/{starter['id']}>)")
    assert "Bob, Carol · 2 messages" in second
    assert second.endswith(f"(<https://discord.com/channels/{GUILD}/{archived}/{opener['id']}>)")
    assert not fake_discord.history_requests(hidden)  # a private thread is never even read


def test_discord_refusal_at_post_time_tells_the_admin_once(
    fake_discord: DigestFakeDiscord, dsettings: Settings, redis_conn: Redis
) -> None:
    """The operator put #general on the deny-list after its digest was set up."""
    due = due_time()
    for hours, who in ((5, ALICE), (4.9, BOB), (4.8, CAROL)):
        fake_discord.add_message(
            CHANNEL, who, "Plans for the offsite that are worth a digest bullet.", due - timedelta(hours=hours)
        )
    enable(dsettings, due, target=ANNOUNCE)
    denied = dsettings.model_copy(update={"digest_channel_deny": ["general"]})
    set_active_settings(denied)

    run = digest(denied, redis_conn, due)
    assert run is not None and run.status == REFUSED
    assert fake_discord.channel_posts(ANNOUNCE) == [] and fake_discord.channel_posts(CHANNEL) == []
    (opened,) = fake_discord.find("POST", r"/users/@me/channels")
    assert opened.body == {"recipient_id": ALICE["id"]}
    (dm,) = fake_discord.find("POST", r"/channels/8\d+/messages")
    assert "was not posted" in dm.body["content"] and "deny-list" in dm.body["content"]
    assert dm.body["allowed_mentions"] == {"parse": []}
    digest(denied, redis_conn, due + timedelta(minutes=5))  # later ticks: nothing more
    assert len(fake_discord.find("POST", r"/channels/\d+/messages")) == 1
