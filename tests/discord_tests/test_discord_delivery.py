"""The worker's delivery: expired-token fallbacks and splitting long summaries."""

from __future__ import annotations

import re
import time
from typing import Any

import discord
from discord_helpers import (
    ALICE,
    BOB,
    CHANNEL,
    ago,
    interaction_payload,
    invoke,
    run_worker,
    slash,
    text_channel,
)
from fakes.discord_api import APPLICATION_ID, FakeDiscord
from redis import Redis

from bot.discord_app.deliver import deliver, notify_failure
from bot.discord_app.rest import split_message
from bot.queue import SummaryJob
from bot.store import Store
from worker.delivery import DeliveredSummary

SUPPRESS_EMBEDS = discord.MessageFlags(suppress_embeds=True).value


def seed(fake: FakeDiscord) -> None:
    for i in range(4):
        fake.add_message(CHANNEL, ALICE if i % 2 else BOB, f"agenda item {i}", ago(minutes=40 - i))


async def test_expired_token_falls_back_to_channel_dm_or_note(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    seed(fake_discord)
    store = Store.from_settings(dsettings)
    # Public, and the worker only got to it after the token's 15 minutes: post in the channel.
    public = interaction_payload(
        fake_discord, slash("summarize", public=True), channel=text_channel(), created=ago(minutes=20)
    )
    await invoke(bot, public)
    run_worker(dsettings, redis_conn)
    assert fake_discord.followups() == []
    [post] = fake_discord.channel_posts(CHANNEL)
    assert post.body["allowed_mentions"] == {"parse": []} and post.body["flags"] & SUPPRESS_EMBEDS
    assert post.body["components"][0]["components"][0]["custom_id"].startswith("recap:vote:")
    row = store.get_summary_by_request(f"discord:{public['id']}")
    assert row is not None and row.text.strip() in post.body["content"]
    assert (
        len(fake_discord.reactions()) == 2 and row.message_ref and row.message_ref.startswith(f"{CHANNEL}:")
    )

    # Private, and Discord refuses the token (expired while queued): send it by DM instead.
    private = interaction_payload(fake_discord, slash("summarize"), channel=text_channel())
    await invoke(bot, private)
    fake_discord.expired_tokens.add(private["token"])
    run_worker(dsettings, redis_conn)
    [opened] = fake_discord.find("POST", r"/users/@me/channels")
    assert opened.body == {"recipient_id": ALICE["id"]}
    [dm] = fake_discord.channel_posts(
        next(c for c, u in fake_discord.dm_channels.items() if u == ALICE["id"])
    )
    private_row = store.get_summary_by_request(f"discord:{private['id']}")
    assert private_row is not None and private_row.text.strip() in dm.body["content"]
    assert dm.body["allowed_mentions"] == {"parse": []}

    # Private, token expired and DMs closed: a short note in the channel, without the summary.
    fake_discord.closed_dms.add(ALICE["id"])
    closed = interaction_payload(
        fake_discord, slash("summarize"), channel=text_channel(), created=ago(minutes=16)
    )
    await invoke(bot, closed)
    run_worker(dsettings, redis_conn)
    note = fake_discord.channel_posts(CHANNEL)[-1]
    assert "expired" in note.body["content"] and "/summarize" in note.body["content"]
    assert "agenda" not in note.body["content"] and "private" not in note.body["content"]  # reveals nothing
    # Addressed to the requester, who is notified; nobody else can be.
    assert note.body["content"].startswith(f"<@{ALICE['id']}>")
    assert note.body["allowed_mentions"] == {"parse": [], "users": [ALICE["id"]]}


def long_job() -> SummaryJob:
    return SummaryJob(
        request_id="discord:long",
        platform="discord",
        dialogue="#Person1#: hi",
        message_count=3,
        public=True,
        destination={
            "application_id": str(APPLICATION_ID),
            "token": "long-token",
            "channel_id": str(CHANNEL),
            "user_id": ALICE["id"],
            "created_at": time.time(),
            "public": True,
            "scope": "the last 24 h",
        },
    )


def test_summary_over_2000_characters_is_split(fake_discord: FakeDiscord, dsettings: Any) -> None:
    sentences = [
        f"Point {i}: the team agreed that item {i} ships after review, @everyone agreed." for i in range(70)
    ]
    text = " ".join(sentences)
    assert len(text) > 4000
    fake_discord.deferred("long-token", CHANNEL)

    ref = deliver(long_job(), DeliveredSummary(7, text, "tiny", None, "v1", 3), dsettings)

    posts = fake_discord.answers()
    assert len(posts) == 3 and posts[0].method == "PATCH"  # the first part replaces "thinking…"
    assert [m["content"] for m in fake_discord.seen_by_user("long-token")] == [p.body["content"] for p in posts]
    contents = [p.body["content"] for p in posts]
    assert all(len(c) <= 2000 for c in contents)
    assert all(p.body["allowed_mentions"] == {"parse": []} for p in posts)
    assert [("components" in p.body) for p in posts] == [False, False, True]  # votes under the last part
    joined = re.sub(r"\s+", " ", " ".join(contents))
    # Every word arrives once, in order; generated mentions are defused (a zero-width space after "@").
    assert discord.utils.escape_mentions(text) in joined and "@everyone" not in joined
    assert all(c.rstrip().endswith(".") for c in contents[:-1])  # cut at sentence ends
    assert ref is not None and len(fake_discord.reactions()) == 2
    assert fake_discord.reactions()[0].path.split("/")[4] == ref.split(":")[1]


def test_split_message_hard_cuts_text_without_spaces() -> None:
    chunks = split_message("x" * 4500)
    assert [len(c) for c in chunks] == [2000, 2000, 500]


def test_split_never_breaks_a_mention_token_and_keeps_markdown_balanced() -> None:
    # No space anywhere: the hard cut at 2,000 would fall inside `<@810...>`; it moves before the token.
    glued = "x" * 1990 + "<@810000000000000101>" + "y" * 100
    first, second = split_message(glued)
    assert first == "x" * 1990 and second.startswith("<@810000000000000101>")
    # Questions and exclamations end sentences too.
    asked = " ".join(f"Is item {i} ready for the launch review?" for i in range(80))
    assert all(c.endswith("?") for c in split_message(asked)[:-1])
    # A code block and a bold span cut in two are closed and reopened, so each part renders alike.
    code = "Steps:\n```\n" + "\n".join(f"run step {i}" for i in range(300)) + "\n```\nDone."
    bold = "**" + " ".join(f"word{i}" for i in range(600)) + "** end."
    for text in (code, bold):
        chunks = split_message(text)
        assert len(chunks) >= 2 and all(len(c) <= 2000 for c in chunks)
        assert all(c.count("```") % 2 == 0 and c.count("**") % 2 == 0 for c in chunks), chunks
    assert split_message(code)[1].startswith("```\nrun step")


def test_failure_notice_reaches_the_requester_ephemerally(fake_discord: FakeDiscord, dsettings: Any) -> None:
    job = long_job()
    job.public = False
    fake_discord.deferred("long-token", CHANNEL, ephemeral=True)
    notify_failure(job, "There was nothing to summarize.", dsettings)
    notify_failure(job, "There was nothing to summarize.", dsettings)  # the failure path asking twice
    [notice] = fake_discord.answers()
    assert notice.method == "PATCH" and "nothing to summarize" in notice.body["content"]
    assert notice.body["allowed_mentions"] == {"parse": []}
    [seen] = fake_discord.seen_by_user("long-token")  # the ephemeral "thinking…" became the notice
    assert seen["flags"] & 64 and "nothing to summarize" in seen["content"]
