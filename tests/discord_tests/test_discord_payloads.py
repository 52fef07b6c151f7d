"""Message shapes as Discord documents them, each either the right turn or skipped for a stated reason.

Payloads follow https://discord.com/developers/docs/resources/message#message-object-message-types
(type 21 THREAD_STARTER_MESSAGE: "no content, ... referenced_message" is the opener; 19 REPLY;
7 USER_JOIN, 6 CHANNEL_PINNED_MESSAGE, 8 GUILD_BOOST, 18 THREAD_CREATED) and the forward shape of
https://discord.com/developers/docs/resources/message#message-snapshot-object (``message_snapshots``,
``message_reference.type`` 1 FORWARD). Server nicknames come from the guild member object.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from discord_helpers import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    GUILD,
    ago,
    interaction_payload,
    invoke,
    run_worker,
    slash,
    text_channel,
    thread_channel,
)
from fakes.discord_api import FakeDiscord, member
from redis import Redis

from bot.discord_app.digest import DiscordDigest
from bot.discord_app.errors import CONTENT_INTENT_NOTE
from bot.queue import fetch_job, job_id_for


def queued(payload: dict[str, Any], settings: Any, redis_conn: Redis) -> dict[str, Any]:
    job = fetch_job(job_id_for(f"discord:{payload['id']}"), settings, redis_conn)
    assert job is not None, "no job was queued"
    return job.args[0]


def reference(message: dict[str, Any], kind: int = 0) -> dict[str, Any]:
    return {"type": kind, "message_id": message["id"], "channel_id": message["channel_id"], "guild_id": str(GUILD)}


def thread_from(fake: FakeDiscord, opener: dict[str, Any], *, embed_opener: bool = True) -> dict[str, Any]:
    """A thread started from ``opener``: it has the opener's id, and its first message is the type-21 starter."""
    thread = thread_channel(int(opener["id"]), CHANNEL)
    extra: dict[str, Any] = {"type": 21, "message_reference": reference(opener)}
    if embed_opener:
        extra["referenced_message"] = opener
    fake.add_message(int(thread["id"]), opener["author"], "", ago(minutes=59), **extra)
    return thread


async def test_thread_started_from_a_message_summarizes_its_opener_without_an_intent_note(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    opener = fake_discord.add_message(CHANNEL, BOB, "Can we ship release 2.4 on Friday?", ago(hours=1))
    thread = thread_from(fake_discord, opener)
    fake_discord.add_message(int(thread["id"]), ALICE, "only if the migration is tested", ago(minutes=50))
    fake_discord.add_message(int(thread["id"]), CAROL, "I will test it on Thursday", ago(minutes=40))
    payload = interaction_payload(fake_discord, slash("summarize"), channel=thread)

    await invoke(bot, payload)

    job = queued(payload, dsettings, redis_conn)
    assert job["message_count"] == 3  # the opener and the two replies
    dialogue = job["dialogue"]
    assert dialogue.index("ship release 2.4 on Friday") < dialogue.index("migration is tested")
    assert job["speakers"]["#Person1#"] == "Bob"  # the opener's author speaks first
    assert job["destination"]["note"] == "" and CONTENT_INTENT_NOTE not in str(job)
    run_worker(dsettings, redis_conn)
    [answer] = fake_discord.answers()
    assert answer.body["content"].startswith("**Summary** of 3 messages (this thread):")
    assert "Message Content" not in answer.body["content"]


@pytest.mark.parametrize("embedded", [True, False], ids=["referenced_message", "fetched"])
async def test_thread_holding_only_its_starter_summarizes_the_opener(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, embedded: bool
) -> None:
    opener = fake_discord.add_message(CHANNEL, ALICE, "The staging database is full again", ago(hours=1))
    thread = thread_from(fake_discord, opener, embed_opener=embedded)
    payload = interaction_payload(fake_discord, slash("summarize"), channel=thread)

    await invoke(bot, payload)

    job = queued(payload, dsettings, redis_conn)
    assert job["message_count"] == 1 and "staging database is full" in job["dialogue"]
    assert job["destination"]["note"] == ""
    fetched = fake_discord.find("GET", rf"/channels/{CHANNEL}/messages/{opener['id']}")
    assert len(fetched) == (0 if embedded else 1)  # fetched only when the starter came without it


async def test_starter_whose_opener_was_deleted_is_skipped_with_a_reason(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    opener = fake_discord.message(CHANNEL, BOB, "a deleted opener", ago(hours=2))  # never stored: it is gone
    thread = thread_channel(int(opener["id"]), CHANNEL)
    fake_discord.add_message(int(thread["id"]), BOB, "", ago(hours=1), type=21, message_reference=reference(opener),
                             referenced_message=None)
    fake_discord.add_message(int(thread["id"]), ALICE, "we still need a date for the launch", ago(minutes=30))
    payload = interaction_payload(fake_discord, slash("summarize"), channel=thread)

    await invoke(bot, payload)

    job = queued(payload, dsettings, redis_conn)
    assert job["message_count"] == 1 and job["destination"]["note"] == ""
    assert "thread starter whose opening message was deleted" in caplog.text


async def test_replies_forwards_and_system_messages(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    question = fake_discord.add_message(CHANNEL, ALICE, "who owns the billing bug?", ago(minutes=50))
    fake_discord.add_message(CHANNEL, CAROL, "", ago(minutes=49), type=7)  # USER_JOIN
    fake_discord.add_message(CHANNEL, BOB, "I do, fixing it today", ago(minutes=48), type=19,
                             message_reference=reference(question), referenced_message=question)
    fake_discord.add_message(CHANNEL, BOB, "", ago(minutes=47), type=6)  # CHANNEL_PINNED_MESSAGE
    fake_discord.add_message(CHANNEL, CAROL, "", ago(minutes=46), type=8)  # GUILD_BOOST
    fake_discord.add_message(CHANNEL, ALICE, "billing fix", ago(minutes=45), type=18)  # THREAD_CREATED
    snapshot = {"message": {"type": 0, "content": "the refund job failed at 03:00", "embeds": [], "attachments": [],
                            "timestamp": ago(hours=3).isoformat(), "edited_timestamp": None, "flags": 0,
                            "mentions": [], "mention_roles": []}}
    forwarded = {**reference(question, kind=1), "channel_id": str(CHANNEL + 9)}
    fake_discord.add_message(CHANNEL, CAROL, "", ago(minutes=44), message_reference=forwarded,
                             message_snapshots=[snapshot])
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())

    await invoke(bot, payload)

    job = queued(payload, dsettings, redis_conn)
    dialogue = job["dialogue"]
    assert job["message_count"] == 3, dialogue  # the question, the reply and the forward
    assert "(replying to #Person1#) I do, fixing it today" in dialogue
    assert "(forwarded) the refund job failed at 03:00" in dialogue
    assert "billing fix" not in dialogue  # the thread-created notice is no one's turn
    assert job["destination"]["note"] == ""  # empty system messages and the forward blame nothing
    for reason in ("member joined", "message pinned", "server boost", "thread created"):
        assert reason in caplog.text, reason
    assert "refund job" not in caplog.text


async def test_server_nicknames_are_used_for_speakers_and_mentions(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    fake_discord.members[BOB["id"]] = member(BOB, nick="Bobby (release lead)")
    fake_discord.members[CAROL["id"]] = member(CAROL, nick="Caro")
    fake_discord.add_message(CHANNEL, BOB, "the release is blocked", ago(minutes=20))
    fake_discord.add_message(CHANNEL, ALICE, f"<@{CAROL['id']}> can you unblock it?", ago(minutes=10),
                             mentions=[CAROL])
    payload = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())

    await invoke(bot, payload)

    job = queued(payload, dsettings, redis_conn)
    assert set(job["speakers"].values()) == {"Bobby (release lead)", "Alice"}  # Alice has no nickname
    assert "Caro can you unblock it" in job["dialogue"]
    looked_up = {r.path.rsplit("/", 1)[1] for r in fake_discord.find("GET", r"/guilds/\d+/members/\d+")}
    assert looked_up == {BOB["id"], ALICE["id"], CAROL["id"]}  # one lookup per person


@pytest.mark.parametrize(("in_window", "scope"), [(30, "the last 12 messages (within 2 h)"), (5, "the last 2 h")])
async def test_messages_and_hours_label_names_the_limit_that_applied(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis, in_window: int, scope: str
) -> None:
    for index in range(in_window):
        fake_discord.add_message(CHANNEL, ALICE if index % 2 else BOB, f"point {index}", ago(minutes=100 - index))
    payload = interaction_payload(fake_discord, slash("summarize", messages=12, hours=2.0), channel=text_channel())

    await invoke(bot, payload)

    job = queued(payload, dsettings, redis_conn)
    assert job["destination"]["scope"] == scope and job["message_count"] == min(in_window, 12)


def test_digest_collection_uses_nicknames_and_quotes_forwards(fake_discord: FakeDiscord, dsettings: Any) -> None:
    fake_discord.guild_channels.append(text_channel())
    fake_discord.members[BOB["id"]] = member(BOB, nick="Bobby")
    fake_discord.add_message(CHANNEL, BOB, "deploy is at noon", ago(hours=2))
    snapshot = {"message": {"type": 0, "content": "the noon deploy is postponed", "embeds": [], "attachments": [],
                            "timestamp": ago(hours=5).isoformat(), "edited_timestamp": None, "flags": 0}}
    fake_discord.add_message(CHANNEL, ALICE, "", ago(hours=1), message_snapshots=[snapshot],
                             message_reference={"type": 1, "message_id": "1", "channel_id": "2"})
    end = datetime.now(UTC)

    messages = DiscordDigest(dsettings).collect(str(CHANNEL), end - timedelta(hours=24), end, 100)

    assert [(m.display_name, m.text) for m in messages] == [
        ("Bobby", "deploy is at noon"), ("Alice", "(forwarded) the noon deploy is postponed")]
