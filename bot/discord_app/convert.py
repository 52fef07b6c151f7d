"""discord.py messages -> platform-neutral `bot.dialogue.Message`s.

Mentions stay in Discord's markup (`<@id>`, `<@&role>`, `<#channel>`, ...) and `Message.names`
carries the display names for every id, so `bot.dialogue` renders them as names or speaker tags,
never as live mentions. Replies keep their context as "(replying to <@author>)", which the
dialogue formatter turns into the replied-to person's speaker tag.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import discord

from bot.dialogue import Message

log = logging.getLogger("recap.discord.convert")


def _reply_prefix(message: discord.Message, names: dict[str, str]) -> str:
    reference = message.reference
    if reference is None or message.type is not discord.MessageType.reply:
        return ""
    resolved = reference.resolved
    if isinstance(resolved, discord.Message):
        names[str(resolved.author.id)] = resolved.author.display_name
        return f"(replying to <@{resolved.author.id}>) "
    return "(replying to an earlier message) "


def _mention_names(message: discord.Message, lookup: Mapping[str, str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for user in message.mentions:
        names[str(user.id)] = user.display_name
    for role_id in message.raw_role_mentions:
        name = lookup.get(str(role_id))
        if name:
            names[str(role_id)] = name
    for channel_id in message.raw_channel_mentions:
        name = lookup.get(str(channel_id))
        if name:
            names[str(channel_id)] = name
    return names


def to_dialogue_message(message: discord.Message, lookup: Mapping[str, str] | None = None) -> Message:
    """One Discord message; ``lookup`` maps role and channel ids of the guild to their names."""
    names = _mention_names(message, lookup or {})
    text = _reply_prefix(message, names) + (message.content or "")
    stickers = " ".join(f"[sticker: {sticker.name}]" for sticker in message.stickers)
    if stickers:
        text = f"{text} {stickers}".strip()
    return Message(
        author_id=str(message.author.id),
        display_name=message.author.display_name,
        text=text,
        timestamp=message.created_at,
        is_bot=message.author.bot or message.webhook_id is not None,
        is_system=message.is_system(),
        message_id=str(message.id),
        thread_id=str(message.channel.id) if isinstance(message.channel, discord.Thread) else None,
        reply_to=str(message.reference.message_id)
        if message.reference and message.reference.message_id
        else None,
        attachments=tuple(attachment.filename for attachment in message.attachments),
        markup="discord",
        names=names,
        permalink=message.jump_url,
    )


def needs_lookup(messages: Iterable[discord.Message], lookup: Mapping[str, str]) -> tuple[bool, bool]:
    """Whether any role / channel mention is missing from ``lookup`` (so the guild must be asked)."""
    roles = channels = False
    for message in messages:
        roles = roles or any(str(r) not in lookup for r in message.raw_role_mentions)
        channels = channels or any(str(c) not in lookup for c in message.raw_channel_mentions)
    return roles, channels


async def guild_names(
    client: discord.Client, guild_id: int | None, messages: list[discord.Message]
) -> dict[str, str]:
    """Role and channel names for the mentions in ``messages``: from the cache, else one REST call each.

    Interactions carry only a partial guild, so without a gateway cache the names come from REST.
    """
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
    return lookup


def is_unreadable(message: discord.Message) -> bool:
    """A person's message that arrived without text or anything else: the Message Content intent is off."""
    if message.author.bot or message.is_system():
        return False
    return not (message.content or message.attachments or message.stickers or message.embeds)
