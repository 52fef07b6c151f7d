"""Fixtures: the fake Discord API, settings pointing at it, and a logged-in RecapBot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from discord_helpers import discord_settings, start_bot
from fakes.discord_api import FakeDiscord
from redis import Redis

from config.settings import Settings


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    fake = FakeDiscord()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def dsettings(settings: Settings, fake_discord: FakeDiscord, redis_conn: Redis) -> Settings:
    return discord_settings(settings, fake_discord)


@pytest.fixture
async def bot(dsettings: Settings) -> AsyncIterator[Any]:
    recap = await start_bot(dsettings)
    yield recap
    await recap.close()
