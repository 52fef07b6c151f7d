"""Every interaction gets an answer: stale commands, old buttons, deleted channels, empty output, admin checks;
and nothing the model writes becomes a live link."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pytest
from discord_helpers import (
    ADMIN_PERMISSIONS,
    ALICE,
    BOB,
    CHANNEL,
    ago,
    button,
    interaction_payload,
    invoke,
    run_worker,
    slash,
    text_channel,
    until,
)
from fakes.discord_api import APPLICATION_ID, FakeDiscord
from redis import Redis

from bot.discord_app.deliver import deliver
from bot.discord_app.errors import STALE_COMMAND
from bot.discord_app.feedback import OLD_BUTTON
from bot.queue import SummaryJob, fetch_job, job_id_for
from bot.store import Store
from worker.delivery import DeliveredSummary

EPHEMERAL = 64


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def seed(fake: FakeDiscord) -> None:
    for i in range(4):
        fake.add_message(CHANNEL, ALICE if i % 2 else BOB, f"launch note {i}", ago(minutes=30 - i))


@pytest.mark.parametrize(
    "command",
    [
        slash("recap-summary"),  # a command that no longer exists (renamed), still in Discord's cache
        slash("recap-sharing"),  # a required option the old definition did not have
        {"id": "1", "name": "digest", "type": 1, "options": []},  # a group invoked as a command (old shape)
        {"id": "2", "name": "Summarize this", "type": 3, "target_id": "1", "resolved": {}},  # old context menu
    ],
    ids=["unknown-command", "missing-option", "old-shape", "old-context-menu"],
)
async def test_a_stale_command_gets_a_short_ephemeral_answer_and_no_error_log(
    bot: Any, fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture, command: dict[str, Any]
) -> None:
    caplog.set_level(logging.INFO)
    payload = interaction_payload(fake_discord, command, channel=text_channel(), permissions=ADMIN_PERMISSIONS)

    await invoke(bot, payload)

    [answer] = fake_discord.callbacks()
    assert answer.body["type"] == 4 and answer.body["data"]["content"] == STALE_COMMAND
    assert answer.body["data"]["flags"] & EPHEMERAL
    assert not errors_logged(caplog)
    assert "stale command definition" in caplog.text


async def test_a_button_from_an_older_version_gets_a_short_ephemeral_answer(
    bot: Any, fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    click = interaction_payload(fake_discord, button("recap:feedback:v0:42"), channel=text_channel(), kind=3,
                                message=fake_discord.message(CHANNEL, fake_discord.bot_user, "old", ago(days=3)))
    bot._connection.parse_interaction_create(click)

    assert await until(lambda: fake_discord.callbacks())
    [answer] = fake_discord.callbacks()
    assert answer.body["data"]["content"] == OLD_BUTTON and answer.body["data"]["flags"] & EPHEMERAL
    assert not errors_logged(caplog)


async def test_a_channel_deleted_while_reading_ends_quietly(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seed(fake_discord)
    fake_discord.deleted_channels.add(str(CHANNEL))
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())

    await invoke(bot, payload)

    assert fetch_job(job_id_for(f"discord:{payload['id']}"), dsettings, redis_conn) is None
    assert "the channel was deleted during the request" in caplog.text and not errors_logged(caplog)


async def test_a_channel_deleted_before_delivery_ends_the_job_quietly(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seed(fake_discord)
    payload = interaction_payload(fake_discord, slash("summarize", public=True), channel=text_channel())
    await invoke(bot, payload)
    fake_discord.deleted_channels.add(str(CHANNEL))

    run_worker(dsettings, redis_conn)

    assert "the channel was deleted; nothing to post" in caplog.text and not errors_logged(caplog)
    assert fake_discord.seen_by_user(payload["token"]) == [] and fake_discord.dm_channels == {}
    assert summary_queue_empty(dsettings, redis_conn)


def summary_queue_empty(settings: Any, connection: Redis) -> bool:
    from bot.queue import summary_queue

    queue = summary_queue(settings, connection)
    return queue.count == 0 and queue.scheduled_job_registry.count == 0 and queue.failed_job_registry.count == 0


async def test_empty_model_output_is_a_failure_message_not_an_empty_summary(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    seed(fake_discord)
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())
    await invoke(bot, payload)
    store = Store.from_settings(dsettings)
    store.record_summary(  # what the generation step stores when the model writes nothing
        request_id=f"discord:{payload['id']}", kind="summary", platform="discord", workspace="g",
        channel=str(CHANNEL), thread=None, requester=ALICE["id"], model="tiny", adapter=None, prompt_version="v1",
        prompt="p", generation={}, input_tokens=10, output_tokens=0, message_count=4, latency_ms=5, text=" \n ",
        public=False,
    )

    run_worker(dsettings, redis_conn)

    [seen] = fake_discord.seen_by_user(payload["token"])
    assert "Summary" not in seen["content"] and "produced no text" in seen["content"]
    row = store.get_summary_by_request(f"discord:{payload['id']}")
    assert row is not None and row.delivered_at is None
    assert len(fake_discord.answers()) == 1  # told once, though the failure path asked as well


async def test_a_non_admin_is_refused_digest_show(bot: Any, fake_discord: FakeDiscord) -> None:
    show = {"id": "1", "name": "digest", "type": 1, "options": [{"name": "show", "type": 1, "options": []}]}
    await invoke(bot, interaction_payload(fake_discord, show, channel=text_channel(), who=BOB))
    [answer] = fake_discord.callbacks()
    assert "Manage Server" in answer.body["data"]["content"] and answer.body["data"]["flags"] & EPHEMERAL
    assert not fake_discord.find("GET", rf"/channels/{CHANNEL}")  # refused before reading anything


def test_model_written_markdown_links_are_posted_dead(fake_discord: FakeDiscord, dsettings: Any) -> None:
    fake_discord.deferred("links", CHANNEL)
    job = SummaryJob(
        request_id="discord:links", platform="discord", dialogue="#Person1#: hi", message_count=2, public=True,
        destination={"application_id": str(APPLICATION_ID), "token": "links", "channel_id": str(CHANNEL),
                     "user_id": ALICE["id"], "created_at": time.time(), "scope": "the last 24 h"},
    )
    text = ("Alice shared [the release notes](https://evil.example/login) and [docs](<https://docs.example/a>) "
            'and [a](https://x.example/p "title") then [](https://bare.example). '
            "See https://evil.example/bare and [link: evil.example].")
    deliver(job, DeliveredSummary(5, text, "tiny", None, "v1", 2), dsettings)

    [seen] = fake_discord.seen_by_user("links")
    content = seen["content"]
    assert "](" not in content  # no masked link survives
    for url in ("https://evil.example/login", "https://docs.example/a", "https://x.example/p", "https://bare.example"):
        assert f"`{url}`" in content  # shown as code, which Discord never links
    assert "the release notes (`https://evil.example/login`)" in content
    outside_code = re.sub(r"`[^`]*`", "", content)
    assert "https://" not in outside_code and "evil.example" not in outside_code  # bare URL and placeholder dead
