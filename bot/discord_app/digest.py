"""Discord side of the daily digest (used by the worker's digest job through bot.digest.platforms).

Synchronous REST through the deliverer's `DiscordApi` (the worker has no gateway connection): history
after the window's start, following pagination, plus the window's messages of the channel's public threads
(those started in the window, and active or recently archived ones started earlier, whose starter
message comes along as context; private threads are never read); mentions are
resolved to names; posts carry `allowed_mentions = {"parse": []}` and suppressed embeds, so nothing
in a digest can ping anyone. Each part has a nonce with `enforce_nonce`, so Discord itself drops a
repeat of a part whose first attempt went through unnoticed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from discord.utils import escape_markdown, time_snowflake

from bot.dialogue import Message, defuse_mentions
from bot.digest.controls import ChannelInfo, DigestRefused
from bot.digest.render import Style
from bot.discord_app.api import DiscordApi, DiscordRefused
from bot.discord_app.deliver import add_vote_reactions
from bot.discord_app.names import MAX_MEMBER_LOOKUPS
from bot.discord_app.notify import open_dm
from bot.discord_app.rest import MESSAGE_LIMIT, message_body, nonce_for, vote_components

log = logging.getLogger("recap.discord.digest")

VIEW_CHANNEL = 1 << 10
PAGE = 100
PEOPLE_TYPES = {0, 19}  # default messages and replies; the rest are system notices
PUBLIC_THREADS = {10, 11}  # announcement and public threads; private threads (12) stay private
ARCHIVED_PAGES = 5  # archived threads are listed newest archive first; stop this deep at most
JUMP = "https://discord.com/channels/{guild}/{channel}/{message}"


def _text(value: str) -> str:
    return escape_markdown(defuse_mentions(value))


STYLE = Style(
    text=_text,
    bold=lambda text: f"**{text}**",
    link=lambda url, label: f"[{label}](<{url}>)",
    limit=MESSAGE_LIMIT,
)


def channel_info_from(data: dict[str, Any]) -> ChannelInfo:
    """Private = @everyone (the role whose id is the guild's) is denied View Channel on the channel."""
    guild = str(data.get("guild_id") or "")
    private = any(
        str(overwrite.get("id")) == guild and int(overwrite.get("deny") or 0) & VIEW_CHANNEL
        for overwrite in data.get("permission_overwrites") or []
    )
    # The bot could read the channel's record, so it can see the channel.
    return ChannelInfo(id=str(data["id"]), name=str(data.get("name") or ""), private=private, bot_member=True)


class DiscordDigest:
    style = STYLE

    def __init__(self, settings: Any) -> None:
        self.api = DiscordApi(settings)
        self._guilds: dict[str, str] = {}  # channel -> guild
        self._names: dict[str, dict[str, str]] = {}  # guild -> role and channel names
        self._nicks: dict[tuple[str, str], str] = {}  # (guild, user) -> the name the server shows

    def channel_info(self, channel: str) -> ChannelInfo:
        try:
            data = self.api.get(f"/channels/{channel}") or {}
        except DiscordRefused as exc:
            log.info("channel %s is not visible to the bot (HTTP %s)", channel, exc.status)
            raise DigestRefused(
                "I can't see that channel. Give Recap's role View Channel there first."
            ) from None
        self._guilds[channel] = str(data.get("guild_id") or "")
        return channel_info_from(data)

    def _history(self, channel: str, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
        after, stop = time_snowflake(start), time_snowflake(end)
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page = self.api.get(f"/channels/{channel}/messages?limit={PAGE}&after={after}") or []
            found += [m for m in page if int(m["id"]) < stop]
            if len(page) < PAGE or any(int(m["id"]) >= stop for m in page):
                break
            after = max(int(m["id"]) for m in page)
        return sorted(found, key=lambda m: int(m["id"]))[:limit]

    def collect(self, channel: str, start: datetime, end: datetime, limit: int) -> list[Message]:
        guild = self._guilds.get(channel) or str((self.api.get(f"/channels/{channel}") or {}).get("guild_id"))
        raw = self._history(channel, start, end, limit)
        threads = {str(m["thread"]["id"]) for m in raw if isinstance(m.get("thread"), dict)}
        threads |= self._threads_since(guild, channel, start)
        names = self._guild_names(guild)
        messages = [
            self._message(m, guild, channel, str(m["thread"]["id"]) if m.get("thread") else None, names)
            for m in raw
        ]
        for thread in sorted(threads):
            items = self._history(thread, start, end, limit)
            if items and int(thread) < time_snowflake(start):
                messages += self._starter(guild, channel, thread, names)
            messages += [self._message(m, guild, thread, thread, names) for m in items]
        unique = {m.message_id: m for m in messages}  # a starter found both ways is kept once
        return sorted(unique.values(), key=lambda m: m.timestamp)[-limit:]

    def _threads_since(self, guild: str, channel: str, start: datetime) -> set[str]:
        """Public threads of ``channel`` with a message after ``start``: active, or archived since."""
        threads, _ = self._threads(f"/guilds/{guild}/threads/active")
        before = ""
        for _ in range(ARCHIVED_PAGES):  # newest archive first: stop once they were archived before start
            page, more = self._threads(f"/channels/{channel}/threads/archived/public?limit=100{before}")
            threads += page
            oldest = min((_archived_at(t) for t in page), default=None)
            if not more or oldest is None or oldest < start:
                break
            before = "&before=" + quote(oldest.isoformat())
        since = time_snowflake(start)
        return {str(t["id"]) for t in threads if _public_thread_of(t, channel) and _newer(t, since)}

    def _threads(self, path: str) -> tuple[list[dict[str, Any]], bool]:
        try:
            page = self.api.get(path) or {}
        except DiscordRefused:  # no permission to list these: the other threads still count
            log.info("could not list threads (%s)", path.split("?")[0])
            return [], False
        return list(page.get("threads") or []), bool(page.get("has_more"))

    def _starter(self, guild: str, channel: str, thread: str, names: dict[str, str]) -> list[Message]:
        """The message an older thread was started from (it has the thread's id), for context."""
        try:
            data = self.api.get(f"/channels/{channel}/messages/{thread}")
        except DiscordRefused:  # a thread not started from a message, or a deleted starter
            return []
        return [self._message(data, guild, channel, thread, names)] if data else []

    def _guild_names(self, guild: str) -> dict[str, str]:
        if guild not in self._names:
            names: dict[str, str] = {}
            try:
                names.update(
                    {str(r["id"]): str(r["name"]) for r in self.api.get(f"/guilds/{guild}/roles") or []}
                )
                names.update(
                    {
                        str(c["id"]): str(c.get("name") or "")
                        for c in self.api.get(f"/guilds/{guild}/channels") or []
                    }
                )
            except DiscordRefused:  # names are a nicety: mentions fall back to placeholders
                log.info("could not read role/channel names of guild %s", guild)
            self._names[guild] = names
        return self._names[guild]

    def _message(
        self, data: dict[str, Any], guild: str, channel: str, thread: str | None, guild_names: dict[str, str]
    ) -> Message:
        author = data.get("author") or {}
        names = dict(guild_names)
        for mentioned in data.get("mentions") or []:
            names[str(mentioned["id"])] = self._shown_name(guild, mentioned)
        return Message(
            author_id=str(author.get("id", "")),
            display_name=self._shown_name(guild, author),
            text=_content(data),
            timestamp=datetime.fromisoformat(str(data["timestamp"])).astimezone(UTC),
            is_bot=bool(author.get("bot") or data.get("webhook_id")),
            is_system=int(data.get("type") or 0) not in PEOPLE_TYPES,
            message_id=str(data["id"]),
            thread_id=thread,
            attachments=tuple(str(a.get("filename") or "file") for a in data.get("attachments") or []),
            markup="discord",
            names=names,
            permalink=JUMP.format(guild=guild, channel=channel, message=data["id"]),
        )

    def _shown_name(self, guild: str, user: dict[str, Any]) -> str:
        """The server nickname (one member lookup per person, at most MAX_MEMBER_LOOKUPS), else the global name."""
        key = (guild, str(user.get("id", "")))
        if key not in self._nicks:
            self._nicks[key] = _display(user)
            lookups = sum(1 for (g, _) in self._nicks if g == guild)
            if guild and key[1] and not user.get("bot") and lookups <= MAX_MEMBER_LOOKUPS:
                self._nicks[key] = self._nickname(guild, key[1]) or self._nicks[key]
        return self._nicks[key]

    def _nickname(self, guild: str, user_id: str) -> str | None:
        try:
            member = self.api.get(f"/guilds/{guild}/members/{user_id}") or {}
        except DiscordRefused:  # left the server: the global name stays
            return None
        return member.get("nick") or None

    def permalink(self, channel: str, message: Message) -> str | None:
        return message.permalink

    def post(self, target: str, text: str, *, key: str, part: int, summary_id: int, last: bool) -> str:
        components = vote_components(summary_id) if last and summary_id else None
        body = message_body(text, components=components, nonce=nonce_for(key, part))
        message = self.api.call("POST", f"/channels/{target}/messages", body) or {}
        if part == 0 and summary_id:  # 👍 / 👎 on the message whose ref the summary row keeps
            add_vote_reactions(self.api, str(message.get("channel_id") or target), str(message["id"]))
        return f"{message.get('channel_id') or target}:{message['id']}"

    def find_posted(self, target: str, *, key: str, part: int, since: datetime) -> str | None:
        """Discord drops a repeated part itself: each part's nonce is enforced (``enforce_nonce``)."""
        return None

    def notify_admin(self, user: str, text: str) -> None:
        """A direct message to the admin who set the digest up (the text names channels, no content)."""
        self.api.call("POST", f"/channels/{open_dm(self.api, user)}/messages", message_body(_text(text)))


def _public_thread_of(thread: dict[str, Any], channel: str) -> bool:
    return str(thread.get("parent_id")) == channel and int(thread.get("type") or 0) in PUBLIC_THREADS


def _newer(thread: dict[str, Any], since: int) -> bool:
    """A thread whose last message is after ``since`` (no last message id: check its history anyway)."""
    last = thread.get("last_message_id")
    return last is None or int(last) >= since


def _archived_at(thread: dict[str, Any]) -> datetime:
    stamp = (thread.get("thread_metadata") or {}).get("archive_timestamp")
    return datetime.fromisoformat(str(stamp)).astimezone(UTC) if stamp else datetime.now(UTC)


def _content(data: dict[str, Any]) -> str:
    """The message text; a forward (``message_snapshots``) quotes what was forwarded."""
    text = str(data.get("content") or "")
    for snapshot in data.get("message_snapshots") or []:
        text = f"{text} (forwarded) {(snapshot.get('message') or {}).get('content') or ''}".strip()
    return text


def _display(user: dict[str, Any]) -> str:
    return str(user.get("global_name") or user.get("username") or "someone")


def digest_platform(settings: Any) -> DiscordDigest:
    return DiscordDigest(settings)
