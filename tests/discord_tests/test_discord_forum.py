"""/summarize in a forum post: the post is a thread whose starter message has the thread's id."""

from __future__ import annotations

from typing import Any

from discord_helpers import (
    ALICE,
    BOB,
    CAROL,
    GUILD,
    SNOWFLAKE,
    ago,
    interaction_payload,
    invoke,
    run_worker,
    slash,
    text_channel,
    thread_channel,
)
from fakes.discord_api import FakeDiscord
from redis import Redis

from bot.queue import fetch_job, job_id_for
from bot.store import Store

FORUM = SNOWFLAKE + 4444


def forum_channel() -> dict[str, Any]:
    """A forum channel (type 15): it holds posts, never messages of its own."""
    return {**text_channel(FORUM, "help-desk"), "type": 15, "available_tags": [], "default_reaction_emoji": None}


def forum_post(fake: FakeDiscord, title_text: str) -> dict[str, Any]:
    """A post: a public thread under the forum, whose starter message (same id) sits in the thread."""
    started = ago(hours=3)
    post_id = fake.new_id(started)
    fake.add_message(post_id, ALICE, title_text, started, id=str(post_id))
    post = {**thread_channel(post_id, FORUM), "name": "Login fails after upgrade", "applied_tags": []}
    fake.threads.append(post)
    fake.guild_channels.append(forum_channel())
    return post


async def test_forum_post_is_summarized_with_its_starter_message(
    bot: Any, fake_discord: FakeDiscord, dsettings: Any, redis_conn: Redis
) -> None:
    post = forum_post(fake_discord, "starter: after upgrading to 2.3 nobody can log in with SSO")
    post_id = int(post["id"])
    replies = [(BOB, "which identity provider do you use"), (ALICE, "okta, since last year"),
               (CAROL, "the 2.3 release changed the callback path, update it in okta")]
    for minutes, (author, text) in zip((150, 120, 90), replies, strict=True):
        fake_discord.add_message(post_id, author, text, ago(minutes=minutes))
    payload = interaction_payload(fake_discord, slash("summarize"), channel=post)

    await invoke(bot, payload)

    job = fetch_job(job_id_for(f"discord:{payload['id']}"), dsettings, redis_conn)
    assert job is not None, "no job was queued"
    queued = job.args[0]
    assert queued["message_count"] == 4  # the starter message and the three replies
    assert queued["dialogue"].index("nobody can log in with SSO") < queued["dialogue"].index("okta, since")
    assert queued["thread"] == str(post_id) and queued["channel"] == str(FORUM)
    assert queued["workspace"] == str(GUILD) and queued["destination"]["scope"] == "this thread"

    run_worker(dsettings, redis_conn)

    [followup] = fake_discord.answers()
    assert followup.status == 200
    assert followup.body["content"].startswith("**Summary** of 4 messages (this thread):")
    row = Store.from_settings(dsettings).get_summary_by_request(f"discord:{payload['id']}")
    assert row is not None and row.delivered_at is not None and row.thread == str(post_id)
