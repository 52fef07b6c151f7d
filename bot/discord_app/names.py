"""Names for a summary's ids: roles, channels and threads of the guild, and people's server nicknames.

Interactions carry only a partial guild and message history carries bare users (REST messages have no
``member``), so without a gateway cache the names come from REST: one call for the roles, one for the
channels, and one `GET /guilds/{guild}/members/{user}` per person (bounded), whose ``nick`` is the name
the server shows. Names are a nicety: any failure falls back to the global display name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import discord

from bot.discord_app.convert import opener_of

log = logging.getLogger("recap.discord.names")
MAX_MEMBER_LOOKUPS = 25  # people looked up by REST per summary; others keep their global name


def needs_lookup(messages: Iterable[discord.Message], lookup: Mapping[str, str]) -> tuple[bool, bool]:
    """Whether any role / channel mention is missing from ``lookup`` (so the guild must be asked)."""
    roles = channels = False
    for message in messages:
        roles = roles or any(str(r) not in lookup for r in message.raw_role_mentions)
        channels = channels or any(str(c) not in lookup for c in message.raw_channel_mentions)
    return roles, channels


def _people(messages: Iterable[discord.Message]) -> list[discord.abc.User]:
    """Authors, mentioned people and the authors of replied-to and opening messages, first seen first."""
    found: dict[int, discord.abc.User] = {}
    for message in messages:
        opener = opener_of(message)
        replied = message.reference.resolved if message.reference else None
        for person in [message.author, *message.mentions, getattr(replied, "author", None),
                       opener.author if opener else None]:
            if isinstance(person, discord.abc.User) and not person.bot:
                found.setdefault(person.id, person)
    return list(found.values())


async def _nickname(client: discord.Client, guild_id: int, user: discord.abc.User) -> tuple[str, str] | None:
    if isinstance(user, discord.Member):  # the payload carried the member: its display name is the nick
        return str(user.id), user.display_name
    try:
        data: Any = await client.http.get_member(guild_id, user.id)
    except discord.HTTPException:  # left the server, or no access: the global name stays
        return None
    nick = data.get("nick") or (data.get("user") or {}).get("global_name")
    return (str(user.id), str(nick)) if nick else None


async def member_names(client: discord.Client, guild_id: int | None, messages: list[discord.Message]) -> dict[str, str]:
    """user id -> the name this server shows for them (nickname, else global name)."""
    guild = client.get_guild(guild_id) if guild_id else None
    names: dict[str, str] = {}
    lookups = []
    for person in _people(messages):
        cached = guild.get_member(person.id) if guild else None
        if cached is not None:
            names[str(person.id)] = cached.display_name
        elif guild_id and len(lookups) < MAX_MEMBER_LOOKUPS:
            lookups.append(_nickname(client, guild_id, person))
    names.update(dict(found for found in await asyncio.gather(*lookups) if found))
    return names


async def guild_names(
    client: discord.Client, guild_id: int | None, messages: list[discord.Message]
) -> dict[str, str]:
    """Role, channel and people's names for ``messages``: from the cache, else REST."""
    guild = client.get_guild(guild_id) if guild_id else None
    lookup: dict[str, str] = {}
    if guild is not None:
        lookup.update({str(role.id): role.name for role in guild.roles})
        lookup.update({str(channel.id): channel.name for channel in guild.channels})
        lookup.update({str(thread.id): thread.name for thread in guild.threads})
    missing_roles, missing_channels = needs_lookup(messages, lookup)
    try:
        if guild_id and missing_roles:
            lookup.update({str(r["id"]): r["name"] for r in await client.http.get_roles(guild_id)})
        if guild_id and missing_channels:
            lookup.update(
                {str(c["id"]): c["name"] for c in await client.http.get_all_guild_channels(guild_id)}
            )
    except discord.HTTPException as exc:  # names are a nicety: fall back to placeholders
        log.warning("could not look up role/channel names in guild %s: HTTP %s", guild_id, exc.status)
    lookup.update(await member_names(client, guild_id, messages))
    return lookup
