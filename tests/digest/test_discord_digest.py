"""Discord digests: `/digest on|off|show` through the real RecapBot tree (interactions built from raw
payloads), the scheduler, the inline worker with the tiny T5, and the fake Discord REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import ANNOUNCE, ROLE, DigestFakeDiscord, due_time, private_channel, run_worker
from conftest import DISCORD_SECRET as SECRET
from discord_helpers import (
    ADMIN_PERMISSIONS,
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    GUILD,
    MEMBER_PERMISSIONS,
    interaction_payload,
    invoke,
    start_bot,
    text_channel,
)
from redis import Redis

from bot.digest.admin import store_for
from bot.digest.scheduler import DigestScheduler
from bot.store.digest import POSTED, RunKey, get_run, get_schedule
from config.settings import Settings


@pytest.fixture
async def bot(dsettings: Settings) -> AsyncIterator[Any]:
    recap = await start_bot(dsettings)
    yield recap
    await recap.close()


def digest_command(sub: str, **options: Any) -> dict[str, Any]:
    kinds = {bool: 5, int: 4, str: 3}
    nested = []
    for key, value in options.items():
        kind = 7 if key == "channel" else kinds[type(value)]
        nested.append({"name": key, "type": kind, "value": str(value) if kind == 7 else value})
    data: dict[str, Any] = {
        "id": "1",
        "name": "digest",
        "type": 1,
        "options": [{"name": sub, "type": 1, "options": nested}],
    }
    if "channel" in options:
        channel = {"id": str(options["channel"]), "name": "announcements", "type": 0, "permissions": "0"}
        data["resolved"] = {"channels": {str(options["channel"]): channel}}
    return data


async def run_command(
    bot: Any,
    fake: DigestFakeDiscord,
    sub: str,
    *,
    who: dict[str, Any] = ALICE,
    permissions: Any = ADMIN_PERMISSIONS,
    where: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Invoke `/digest <sub>`; returns the one interaction response it gave."""
    before = len(fake.callbacks())
    payload = interaction_payload(
        fake, digest_command(sub, **options), channel=where or text_channel(), who=who, permissions=permissions
    )
    await invoke(bot, payload)
    (callback,) = fake.callbacks()[before:]
    return dict(callback.body)


def seed(fake: DigestFakeDiscord, due: datetime) -> dict[str, str]:
    def at(hours: float) -> datetime:
        return due - timedelta(hours=hours)

    add = fake.add_message
    first = add(CHANNEL, ALICE, "Shall we ship the release on Friday afternoon?", at(20))
    add(CHANNEL, BOB, "Friday works for me, the tests are green.", at(19.9))
    starter = add(CHANNEL, BOB, "Can someone review the database migration today?", at(16))
    starter["thread"] = {"id": starter["id"], "name": "migration", "type": 11}
    add(int(starter["id"]), ALICE, "I can review it after lunch.", at(15.9))
    add(int(starter["id"]), CAROL, "I left two comments on the index change.", at(15.5))
    add(CHANNEL, CAROL, "ok", at(15.8))
    add(CHANNEL, BOB, "Too late for today's digest.", at(-1))
    return {"release": first["id"], "migration": starter["id"]}


async def test_discord_digest_posts_once_with_permalinks_and_pings_nobody(
    bot: Any, fake_discord: DigestFakeDiscord, dsettings: Settings, redis_conn: Redis
) -> None:
    """Issue tests 1 and 9 on Discord: one post, a bullet and a jump link per conversation, no pings."""
    due = due_time()
    firsts = seed(fake_discord, due)
    mention = fake_discord.add_message(
        CHANNEL,
        CAROL,
        f"@everyone <@&{ROLE}> the build is red again, <@{ALICE['id']}> can you look?",
        due - timedelta(hours=3),
        mention_everyone=True,
        mention_roles=[str(ROLE)],
        mentions=[ALICE],
    )
    fake_discord.add_message(
        CHANNEL,
        ALICE,
        f"@here on it, <@&{ROLE}> stand by please",
        due - timedelta(hours=2.9),
        mention_roles=[str(ROLE)],
    )
    answer = await run_command(bot, fake_discord, "on", time=f"{due:%H:%M}", timezone="UTC")
    assert "Daily digest is **on**" in answer["data"]["content"] and answer["data"]["flags"] & 64

    store = store_for(dsettings)
    ticker = DigestScheduler(dsettings, store, redis_conn)
    assert len(ticker.tick(due + timedelta(minutes=1)).enqueued) == 1
    run_worker(dsettings, redis_conn)
    assert ticker.tick(due + timedelta(minutes=2)).enqueued == []
    run_worker(dsettings, redis_conn)

    (post,) = fake_discord.channel_posts(CHANNEL)
    body = post.body
    assert body["allowed_mentions"] == {"parse": []}
    content = body["content"]
    assert content.startswith("**Daily digest for \\#general · ")  # markdown-escaped, shown as "#general"
    lines = [line for line in content.splitlines() if line.startswith("• ")]
    assert len(lines) == 3
    for line, first in zip(lines, (firsts["release"], firsts["migration"], mention["id"]), strict=True):
        assert line.endswith(f"[first message](<https://discord.com/channels/{GUILD}/{CHANNEL}/{first}>)")
    assert "Bob, Alice, Carol · 3 messages" in lines[1]
    assert "@everyone" not in content and "@here" not in content and "<@" not in content
    assert body["nonce"] and body["enforce_nonce"] is True
    run = get_run(store, RunKey("discord", str(CHANNEL), due.date().isoformat()))
    assert run is not None and run.status == POSTED
    row = store.find_summary_by_message("discord", run.message_ref or "")
    assert row is not None and row.kind == "digest"  # raw reaction events find it: votes count as feedback
    assert len(fake_discord.reactions()) == 2
    # The digest job's reads (channel record, history, threads) must carry the bot token, as its posts do.
    reads = [r for r in fake_discord.requests if r.method == "GET" and f"/channels/{CHANNEL}" in r.path]
    assert reads and all(r.headers.get("Authorization", "").startswith("Bot ") for r in reads)


async def test_discord_non_admin_is_refused_and_settings_persist(
    bot: Any, fake_discord: DigestFakeDiscord, dsettings: Settings
) -> None:
    """Issue test 7 on Discord: default_permissions would allow it; the server-side check refuses."""
    refused = await run_command(bot, fake_discord, "on", who=BOB, permissions=MEMBER_PERMISSIONS, time="07:15")
    assert "Manage Server" in refused["data"]["content"]
    assert get_schedule(store_for(dsettings), "discord", str(CHANNEL)) is None
    ok = await run_command(bot, fake_discord, "on", time="07:15", timezone="Europe/Paris", quiet_day=True)
    assert "**on**" in ok["data"]["content"]
    await bot.close()
    restarted = await start_bot(dsettings)
    try:
        refused_show = await run_command(restarted, fake_discord, "show", who=BOB, permissions=MEMBER_PERMISSIONS)
        assert "Manage Server" in refused_show["data"]["content"]  # `show` is checked like `on` (issue 12)
        shown = await run_command(restarted, fake_discord, "show")
        assert "every day at 07:15 (Europe/Paris)" in shown["data"]["content"]
        assert "quiet day" in shown["data"]["content"]
        off = await run_command(restarted, fake_discord, "off", who=BOB, permissions=MEMBER_PERMISSIONS)
        assert "Manage Server" in off["data"]["content"]
    finally:
        await restarted.close()


async def test_discord_private_to_public_is_refused(
    bot: Any, fake_discord: DigestFakeDiscord, dsettings: Settings
) -> None:
    """Issue test 8 on Discord."""
    secret = private_channel(SECRET, "secret")
    answer = await run_command(bot, fake_discord, "on", where=secret, channel=ANNOUNCE)
    text = answer["data"]["content"]
    assert "#secret is private, so its digest can only be posted in #secret itself" in text
    assert "#announcements would show its content" in text
    assert get_schedule(store_for(dsettings), "discord", str(SECRET)) is None
    assert "**on**" in (await run_command(bot, fake_discord, "on", where=secret))["data"]["content"]
