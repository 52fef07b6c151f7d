"""`/summarize digest on|off|show [HH:MM] [timezone] [#channel] [24h] [min=3] [quiet]` (Slack).

Called by the adapter's dispatch point (bot.slack_app.commands) after the ack, with the text after
`digest`. Only workspace admins and owners (users.info), or the ids in RECAP_SLACK_DIGEST_ADMINS,
may change or `show` a digest (as on Discord, where both need Manage Server). Replies are ephemeral.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.digest.admin import DigestOptions, show, turn_off, turn_on
from bot.digest.controls import DigestRefused
from bot.digest.schedule import ScheduleError, parse_time_of_day, parse_timezone
from bot.slack_app.blocks import escape
from bot.slack_app.digest import channel_info

log = logging.getLogger("recap.slack.digest_commands")

USAGE = (
    "Usage: `/summarize digest on [HH:MM] [timezone] [#channel] [24h] [min=3] [quiet]`, "
    "`/summarize digest off`, `/summarize digest show`. Defaults: 09:00 UTC, posted in this channel, "
    'the last 24 h, skipped when there are fewer than 3 messages (`quiet` posts a "quiet day" note instead).'
)
NOT_ADMIN = (
    "Only workspace admins and owners (or the operator's digest admins) can see or change this channel's digest."
)
_CHANNEL = re.compile(r"^<#(?P<id>[CGD][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>$")
_WINDOW = re.compile(r"^(?P<n>[0-9]{1,3})h$")
_MIN = re.compile(r"^min=(?P<n>[0-9]{1,5})$")


class UsageError(ValueError):
    """Words that are not a digest option; the message names the word."""


def parse_on(words: list[str]) -> tuple[DigestOptions, str | None]:
    """The options of `digest on`, and the target channel id if one was given."""
    options, target = DigestOptions(), None
    for word in words:
        lowered = word.lower()
        if match := _CHANNEL.match(word):
            target = match.group("id")
        elif word.startswith("#"):
            raise UsageError(f"pick the channel from Slack's autocomplete so it becomes a link ({word})")
        elif ":" in word and word[0].isdigit():
            options = replace(options, time_of_day=f"{parse_time_of_day(word):%H:%M}")
        elif match := _WINDOW.match(lowered):
            options = replace(options, window_hours=float(match.group("n")))
        elif match := _MIN.match(lowered):
            options = replace(options, min_messages=int(match.group("n")))
        elif lowered in ("quiet", "skip"):
            options = replace(options, quiet_day=lowered == "quiet")
        else:
            options = replace(options, timezone=parse_timezone(word).key)
    return options, target


def is_admin(client: WebClient, user_id: str, settings: Any) -> bool:
    if user_id in settings.slack_digest_admins:
        return True
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except SlackApiError as exc:
        log.warning("users.info for an admin check failed: %s", exc.response.get("error"))
        return False
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def _reply(respond: Respond, text: str) -> None:
    respond(text=text, response_type="ephemeral", replace_original=False)


def handle(args: str, command: dict[str, Any], client: WebClient, respond: Respond, settings: Any) -> None:
    """`args` is the text after `digest`; every outcome is one ephemeral reply."""
    words = args.split()
    action = words[0].lower() if words else "show"
    channel, user = command.get("channel_id", ""), command.get("user_id", "")
    if action not in ("on", "off", "show"):
        _reply(respond, USAGE)
        return
    try:
        source = channel_info(client, channel)
        if not is_admin(client, user, settings):  # `show` too: a digest's schedule and scope are admin matters
            log.info("digest %s refused: not an admin", action)
            _reply(respond, NOT_ADMIN)
            return
        if action == "show":
            _reply(respond, show(settings, "slack", source))
            return
        if action == "off":
            _reply(respond, turn_off(settings, "slack", source, user))
            return
        options, target_id = parse_on(words[1:])
        target = source if target_id in (None, channel) else channel_info(client, target_id)
        _reply(respond, turn_on(settings, "slack", command.get("team_id", ""), source, target, options, user))
        log.info("digest on for %s by an admin", channel)
    except (DigestRefused, ScheduleError) as problem:
        _reply(respond, f":no_entry: {problem}")
    except UsageError as problem:
        _reply(respond, f"I didn't understand that: {escape(str(problem))}.\n{USAGE}")

