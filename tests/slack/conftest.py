"""Fixtures of the Slack tests (helpers live in slack_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.slack_api import FakeSlackAPI
from redis import Redis
from slack_helpers import SlackHarness, make_harness, seed_workspace

from config.settings import Settings, set_active_settings


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackAPI]:
    fake = FakeSlackAPI(page_size=2).start()
    seed_workspace(fake)
    yield fake
    fake.stop()


@pytest.fixture
def slack_settings(settings: Settings, fake_slack: FakeSlackAPI) -> Iterator[Settings]:
    active = settings.model_copy(update={"slack_api_url": fake_slack.url})
    set_active_settings(active)  # the inline worker's deliverer reads the active settings
    yield active
    set_active_settings(settings)


@pytest.fixture
def slack(slack_settings: Settings, fake_slack: FakeSlackAPI, redis_conn: Redis) -> Iterator[SlackHarness]:
    harness = make_harness(slack_settings, fake_slack, redis_conn)
    yield harness
    harness.stopping.set()  # a collection still waiting on a rate limit gives up now
    harness.executor.drain()
    harness.executor.shutdown(wait=True)
