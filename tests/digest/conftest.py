"""Digest test fixtures: the Slack fake (the bot's posts land in the history, as on Slack), settings pointing at
it, an inline RQ worker with the tiny T5, and a day of channel history relative to a chosen due time."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.discord_api import FakeDiscord
from fakes.slack_api import FakeSlackAPI
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bot.digest.admin import store_for
from bot.queue import summary_queue
from bot.store import Store
from config.settings import Settings, set_active_settings

# The adapters' own test helpers (signed Bolt requests, discord.py interactions) are reused as they are.
TESTS = Path(__file__).resolve().parents[1]
for folder in ("slack", "discord_tests"):
    if str(TESTS / folder) not in sys.path:
        sys.path.append(str(TESTS / folder))

CHANNEL, OTHER, SECRET = "C1", "C2", "G9"


class DigestSlackFake(FakeSlackAPI):
    """The adapter's fake, where (as on Slack) the bot's posts join the channel's history with their
    metadata (conversations.history honours `latest` and `include_all_metadata`)."""

    def __init__(self) -> None:
        super().__init__(page_size=2, keep_posts=True)

    def digest_posts(self) -> list[Any]:
        return self.calls_to("chat.postMessage")


@pytest.fixture
def fake_slack() -> Iterator[DigestSlackFake]:
    fake = DigestSlackFake().start()
    fake.add_user("U1", "Alice")
    fake.add_user("U2", "Bob")
    fake.add_user("U3", "Carol")
    fake.add_user("UADMIN", "Dana")
    fake.users["UADMIN"]["is_admin"] = True
    fake.add_channel(CHANNEL, "general")
    fake.add_channel(OTHER, "announcements")
    fake.add_channel(SECRET, "secret-project", private=True)
    yield fake
    fake.stop()


@pytest.fixture
def digest_settings(settings: Settings, fake_slack: DigestSlackFake) -> Iterator[Settings]:
    active = settings.model_copy(update={"slack_api_url": fake_slack.url, "retry_intervals_s": [0]})
    set_active_settings(active)  # the inline worker reads the active settings
    yield active
    set_active_settings(settings)


@pytest.fixture
def store(digest_settings: Settings) -> Store:
    return store_for(digest_settings)


def run_worker(settings: Settings, redis: Redis) -> None:
    SimpleWorker([summary_queue(settings, redis)], connection=redis, serializer=JSONSerializer).work(burst=True)


def due_time(hours_ahead: int = 2) -> datetime:
    """A due time on the minute, a little ahead of the real clock (schedules enabled now count from now)."""
    return (datetime.now(UTC) + timedelta(hours=hours_ahead)).replace(second=0, microsecond=0)


def seed_day(fake: DigestSlackFake, due: datetime, channel: str = CHANNEL) -> dict[str, str]:
    """Three conversations in the 24 h before ``due`` (a gap split, a thread, a later talk), plus noise.

    Returns the ts of each conversation's first message.
    """

    def at(hours_before: float) -> float:
        return (due - timedelta(hours=hours_before)).timestamp()

    add = fake.add_message
    add(channel, "U1", "Old news from the day before yesterday about the budget.", at(30))
    first_a = add(channel, "U1", "Shall we ship the release on Friday afternoon?", at(20))["ts"]
    add(channel, "U2", "Friday works for me, the tests are green.", at(19.9))
    add(channel, "U3", "I will write the release notes tonight.", at(19.8))
    thread = add(channel, "U2", "Can someone review the database migration today?", at(16), reply_count=2)
    thread["thread_ts"] = thread["ts"]
    add(channel, "U1", "I can review it after lunch.", at(15.9), thread_ts=thread["ts"])
    add(channel, "U3", "I left two comments on the index change.", at(15.5), thread_ts=thread["ts"])
    add(channel, "U3", "ok", at(15.8))  # a lone short message: not a conversation
    add(channel, None, "Deploy bot: build 42 passed", at(15.7), subtype="bot_message", bot_id="B9")
    first_c = add(channel, "U1", "The office is closed on Monday for the holiday.", at(6))["ts"]
    add(channel, "U2", "Thanks, I will work from home then.", at(5.9))
    add(channel, "U2", "Too late for today's digest, this one is tomorrow's.", at(-0.5))
    return {"release": first_a, "migration": thread["ts"], "office": first_c}


@pytest.fixture
def slack(digest_settings: Settings, fake_slack: DigestSlackFake, redis_conn: Redis) -> Iterator[Any]:
    """The real Bolt app on the fake (the adapter's test harness)."""
    from slack_helpers import make_harness

    harness = make_harness(digest_settings, fake_slack, redis_conn)
    yield harness
    harness.executor.drain()
    harness.executor.shutdown(wait=True)


# Discord: the adapter's fake (it serves GET /channels/{id}, one message and the thread lists a digest reads).
DigestFakeDiscord = FakeDiscord
SNOWFLAKE = 810_000_000_000_000_000  # the adapter tests' ids (discord_helpers.SNOWFLAKE)
DISCORD_SECRET, ANNOUNCE, ROLE = SNOWFLAKE + 5555, SNOWFLAKE + 6666, SNOWFLAKE + 7777


def private_channel(channel_id: int, name: str) -> dict[str, Any]:
    from discord_helpers import GUILD, text_channel

    hidden = {"id": str(GUILD), "type": 0, "allow": "0", "deny": str(1 << 10)}
    return {**text_channel(channel_id, name), "permission_overwrites": [hidden]}


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    from discord_helpers import text_channel

    fake = FakeDiscord()
    fake.start()
    announce, secret = text_channel(ANNOUNCE, "announcements"), private_channel(DISCORD_SECRET, "secret")
    fake.guild_channels = [text_channel(), announce, secret]
    role = {"id": str(ROLE), "name": "oncall", "permissions": "0", "position": 1, "color": 0}
    fake.roles = [{**role, "hoist": False, "managed": False, "mentionable": True, "flags": 0}]
    yield fake
    fake.stop()


@pytest.fixture
def dsettings(settings: Settings, fake_discord: FakeDiscord, redis_conn: Redis) -> Iterator[Settings]:
    from discord_helpers import discord_settings

    yield discord_settings(settings, fake_discord, retry_intervals_s=[0])
