"""Interaction payloads built from raw dicts (as discord.py's tests/test_app_commands_invoke.py does),
and small helpers to drive RecapBot and an inline RQ worker against the fake Discord API."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
from discord import app_commands
from fakes.discord_api import APPLICATION_ID, FakeDiscord, user
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from config.settings import Settings, set_active_settings

SNOWFLAKE = 810_000_000_000_000_000  # realistic ids: discord.py only parses 15-20 digit mentions
GUILD = SNOWFLAKE + 1111
CHANNEL = SNOWFLAKE + 2222
THREAD = SNOWFLAKE + 3333
ALICE, BOB, CAROL = (
    user(SNOWFLAKE + 101, "Alice"),
    user(SNOWFLAKE + 102, "Bob"),
    user(SNOWFLAKE + 103, "Carol"),
)
HELPER_BOT = user(SNOWFLAKE + 104, "OtherBot", bot=True)
MEMBER_PERMISSIONS = discord.Permissions(view_channel=True, send_messages=True, use_application_commands=True)
ADMIN_PERMISSIONS = discord.Permissions(manage_guild=True) | MEMBER_PERMISSIONS
BOT_PERMISSIONS = discord.Permissions(
    view_channel=True, read_message_history=True, send_messages=True, add_reactions=True
)
_tokens = itertools.count(1)
LONG = " ".join(f"Point {i}: item {i} ships after the review, said <@{810000000000000000 + i}>." for i in range(90))


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def text_channel(channel_id: int = CHANNEL, name: str = "general") -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "rate_limit_per_user": 0,
        "topic": None,
        "last_message_id": None,
        "flags": 0,
    }


def thread_channel(thread_id: int = THREAD, parent_id: int = CHANNEL) -> dict[str, Any]:
    return {
        "id": str(thread_id),
        "type": 11,
        "guild_id": str(GUILD),
        "parent_id": str(parent_id),
        "name": "release plan",
        "owner_id": ALICE["id"],
        "message_count": 0,
        "member_count": 2,
        "rate_limit_per_user": 0,
        "flags": 0,
        "last_message_id": None,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "locked": False,
            "archive_timestamp": ago(days=1).isoformat(),
        },
    }


def interaction_payload(
    fake: FakeDiscord,
    command: dict[str, Any],
    *,
    channel: dict[str, Any],
    who: dict[str, Any] = ALICE,
    permissions: discord.Permissions = MEMBER_PERMISSIONS,
    app_permissions: discord.Permissions = BOT_PERMISSIONS,
    created: datetime | None = None,
    kind: int = 2,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A raw INTERACTION_CREATE payload; its follow-up webhook posts land in ``channel``."""
    token = f"token-{next(_tokens)}"
    fake.token_channels[token] = int(channel["id"])
    payload: dict[str, Any] = {
        "id": str(fake.new_id(created)),
        "application_id": str(APPLICATION_ID),
        "token": token,
        "version": 1,
        "type": kind,
        "guild_id": str(GUILD),
        "channel_id": channel["id"],
        "channel": channel,
        "member": {
            "user": who,
            "roles": [],
            "joined_at": ago(days=100).isoformat(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(permissions.value),
        },
        "app_permissions": str(app_permissions.value),
        "locale": "en-US",
        "guild_locale": "en-US",
        "attachment_size_limit": 8 * 1024 * 1024,
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": 0,
        "data": command,
    }
    if message is not None:
        payload["message"] = message
    return payload


def slash(name: str, **options: Any) -> dict[str, Any]:
    kinds = {bool: 5, int: 4, float: 10, str: 3}
    return {
        "id": "1",
        "name": name,
        "type": 1,
        "options": [
            {"name": key, "type": kinds[type(value)], "value": value} for key, value in options.items()
        ],
    }


def context_menu(target: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "2",
        "name": "Summarize from here",
        "type": 3,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: target}},
    }


def button(custom_id: str) -> dict[str, Any]:
    return {"custom_id": custom_id, "component_type": 2}


async def invoke(bot: discord.Client, payload: dict[str, Any]) -> discord.Interaction:
    """Run an app command the way CommandTree._from_interaction does, but awaited."""
    interaction: discord.Interaction = discord.Interaction(data=payload, state=bot._connection)
    tree = bot.tree  # type: ignore[attr-defined]
    try:
        await tree._call(interaction)
    except app_commands.AppCommandError as error:
        await tree._dispatch_error(interaction, error)
    return interaction


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Wait for work that discord.py dispatches as tasks (events, component interactions)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)


def summary_queue(settings: Any, connection: Redis) -> Queue:
    return Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)


def run_worker(settings: Any, connection: Redis, *, scheduled: bool = False) -> None:
    """The real RQ worker, inline: runs worker.jobs.summarize on the tiny T5, then delivery.

    With ``scheduled``, jobs due in RQ's ScheduledJobRegistry are queued first (as the worker's scheduler does).
    """
    queue = summary_queue(settings, connection)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True, with_scheduler=scheduled)


def make_due(settings: Any, connection: Redis, job_id: str) -> None:
    """Move a rescheduled job's time to now, as if the platform's wait had passed."""
    queue = summary_queue(settings, connection)
    ScheduledJobRegistry(queue=queue).schedule(Job.fetch(job_id, connection=connection, serializer=JSONSerializer),
                                               datetime.now(UTC))


def scheduled_at(settings: Any, connection: Redis, job_id: str) -> float | None:
    registry = ScheduledJobRegistry(queue=summary_queue(settings, connection))
    return connection.zscore(registry.key, job_id)


def discord_settings(settings: Settings, fake: FakeDiscord, **overrides: Any) -> Settings:
    """The shared test settings, pointed at the fake, and active for the inline worker."""
    assert fake._server is not None
    url = f"http://127.0.0.1:{fake._server.server_address[1]}/api/v10"
    active = settings.model_copy(
        update={"discord_api_url": url, "discord_application_id": str(APPLICATION_ID), **overrides}
    )
    set_active_settings(active)
    return active


async def start_bot(settings: Settings) -> Any:
    """A RecapBot logged in against the fake: runs setup_hook, including the command sync."""
    from bot.discord_app.bot import RecapBot

    bot = RecapBot(settings)
    try:
        await bot.login("discord-test")
    except BaseException:
        await bot.close()
        raise
    return bot


def callback_bodies(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [record.body for record in fake.callbacks()]


def record_long_summary(store: Any, request_id: str) -> int:
    """The summary row the worker's generation step writes; the tiny T5 cannot write 4,000 characters."""
    return int(
        store.record_summary(
            request_id=request_id, kind="summary", platform="discord", workspace="g", channel=str(CHANNEL),
            thread=None, requester=ALICE["id"], model="tiny", adapter=None, prompt_version="v1", prompt="p",
            generation={}, input_tokens=10, output_tokens=900, message_count=4, latency_ms=5, text=LONG,
            public=True,
        )
    )
