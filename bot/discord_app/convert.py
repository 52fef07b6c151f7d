"""discord.py messages -> platform-neutral `bot.dialogue.Message`s.

Mentions stay in Discord's markup (`<@id>`, `<@&role>`, `<#channel>`, ...) and `Message.names`
carries the display names for every id, so `bot.dialogue` renders them as names or speaker tags,
never as live mentions. ``lookup`` (bot.discord_app.names) maps ids to names: roles, channels, and
people's server nicknames where Discord gave them.

Message types (https://discord.com/developers/docs/resources/message#message-object-message-types):
- 0 DEFAULT and 19 REPLY are people's turns; a reply keeps its context as "(replying to <@author>)".
- 21 THREAD_STARTER_MESSAGE opens a thread started from a message. It has no content by design; the
  opener is its ``referenced_message``, which becomes the turn (it never means the intent is off).
- A forward is a DEFAULT message with ``message_snapshots``: the forwarded text, marked as such.
- Everything else (joins, pins, boosts, thread created, ...) is a system notice, skipped with a reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

import discord

from bot.dialogue import Message

log = logging.getLogger("recap.discord.convert")
THREAD_STARTER = discord.MessageType.thread_starter_message
_TYPES = discord.MessageType
NOTICES = {  # the system notices people see most, by the names Discord's client shows
    _TYPES.new_member: "member joined",
    _TYPES.pins_add: "message pinned",
    _TYPES.premium_guild_subscription: "server boost",
    _TYPES.premium_guild_tier_1: "server boost",
    _TYPES.premium_guild_tier_2: "server boost",
    _TYPES.premium_guild_tier_3: "server boost",
    _TYPES.thread_created: "thread created",
}


def opener_of(message: discord.Message) -> discord.Message | None:
    """The message a thread was started from, carried by the thread's type-21 starter."""
    if message.type is not THREAD_STARTER or message.reference is None:
        return None
    resolved = message.reference.resolved
    return resolved if isinstance(resolved, discord.Message) else None


def skip_reason(message: discord.Message) -> str | None:
    """Why a message is no turn of the dialogue, or None when it is one."""
    if message.type is THREAD_STARTER:
        return None if opener_of(message) else "thread starter whose opening message was deleted"
    if message.author.bot or message.webhook_id is not None:
        return "bot or app message"
    if message.is_system():
        return "system notice: " + NOTICES.get(message.type, message.type.name.replace("_", " "))
    return None


def skipped_counts(messages: Iterable[discord.Message]) -> Counter[str]:
    return Counter(reason for reason in map(skip_reason, messages) if reason)


def _name(user: discord.abc.User, lookup: Mapping[str, str]) -> str:
    return lookup.get(str(user.id)) or user.display_name


def _reply_prefix(message: discord.Message, names: dict[str, str], lookup: Mapping[str, str]) -> str:
    reference = message.reference
    if reference is None or message.type is not discord.MessageType.reply:
        return ""
    resolved = reference.resolved
    if isinstance(resolved, discord.Message):
        names[str(resolved.author.id)] = _name(resolved.author, lookup)
        return f"(replying to <@{resolved.author.id}>) "
    return "(replying to an earlier message) "


def _mention_names(message: discord.Message, lookup: Mapping[str, str]) -> dict[str, str]:
    names = {str(user.id): _name(user, lookup) for user in message.mentions}
    for found_id in [*message.raw_role_mentions, *message.raw_channel_mentions, *_forwarded_mentions(message)]:
        name = lookup.get(str(found_id))
        if name:
            names[str(found_id)] = name
    return names


def _forwarded_mentions(message: discord.Message) -> list[int]:
    return [i for snap in message.message_snapshots for i in [*snap.raw_mentions, *snap.raw_channel_mentions]]


def _text(message: discord.Message, names: dict[str, str], lookup: Mapping[str, str]) -> str:
    text = _reply_prefix(message, names, lookup) + (message.content or "")
    for snapshot in message.message_snapshots:  # a forward: the forwarder's turn quotes the original
        text = f"{text} (forwarded) {snapshot.content}".strip()
    stickers = " ".join(f"[sticker: {sticker.name}]" for sticker in message.stickers)
    return f"{text} {stickers}".strip() if stickers else text


def _attachments(message: discord.Message) -> tuple[str, ...]:
    files = [*message.attachments, *(a for snap in message.message_snapshots for a in snap.attachments)]
    return tuple(attachment.filename for attachment in files)


def to_dialogue_message(message: discord.Message, lookup: Mapping[str, str] | None = None) -> Message:
    """One Discord message; ``lookup`` maps role, channel and user ids of the guild to their names."""
    lookup = lookup or {}
    opener = opener_of(message)
    if opener is not None:  # the thread's first turn is the message it was started from
        thread_id = str(message.channel.id)
        return replace(to_dialogue_message(opener, lookup), thread_id=thread_id)
    names = _mention_names(message, lookup)
    return Message(
        author_id=str(message.author.id),
        display_name=_name(message.author, lookup),
        text=_text(message, names, lookup),
        timestamp=message.created_at,
        is_bot=message.author.bot or message.webhook_id is not None,
        is_system=message.is_system() or message.type is THREAD_STARTER,
        message_id=str(message.id),
        thread_id=str(message.channel.id) if isinstance(message.channel, discord.Thread) else None,
        reply_to=str(message.reference.message_id) if message.reference and message.reference.message_id else None,
        attachments=_attachments(message),
        markup="discord",
        names=names,
        permalink=message.jump_url,
    )


def is_unreadable(message: discord.Message) -> bool:
    """A person's message that arrived without text or anything else: the Message Content intent is off.

    A thread starter is never counted: it is empty by design, and its opener is what is summarized.
    """
    if message.type is THREAD_STARTER or skip_reason(message):
        return False
    content = (message.content, message.attachments, message.stickers, message.embeds, message.message_snapshots)
    return not any(content)
