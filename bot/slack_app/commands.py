"""`/summarize` in a channel: parse the arguments, ack at once, then collect and enqueue lazily.

Forms: `/summarize` (last default_window_hours, capped at max_messages), `2h`, `3d`, `30m`
(a time range), `100` (a message count), `public` (post for everyone), combinable.
`digest ...` belongs to the digests feature (bot.slack_app.digest_commands); the admin forms
`report` and `sharing on|off|show` to bot.slack_app.admin_commands.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.slack_app import admin_commands
from bot.slack_app.flow import Deps, SummaryRequest, responder, start_summary

log = logging.getLogger("recap.slack.commands")

COMMAND = "/summarize"
DIGEST_MODULE = "bot.slack_app.digest_commands"
USAGE = (
    "Usage: `/summarize` (the last {hours} h), `/summarize 2h` or `/summarize 3d` (a time range), "
    "`/summarize 100` (the last 100 messages), and add `public` to post the summary for everyone. "
    "For a thread, use the message shortcut *Summarize thread* or mention `@Recap summarize` in it. "
    "Admins: `/summarize report` (the evaluation report) and `/summarize sharing on|off|show`."
)
ADMIN_WORDS = ("report", "sharing")
REPORT_ACK = "Building the Recap report…"
_DURATION = re.compile(r"^([0-9]{1,4})(m|min|h|d)$")  # ASCII digits only: int("²") fails
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400}
MAX_RANGE_S = 90 * 86400


class UsageError(ValueError):
    """The arguments are not a form /summarize accepts."""


@dataclass(frozen=True)
class SummarizeArgs:
    range_s: float | None = None
    count: int | None = None
    public: bool = False


def parse_args(text: str) -> SummarizeArgs:
    range_s: float | None = None
    count: int | None = None
    public = False
    for word in text.lower().split():
        duration = _DURATION.match(word)
        if word == "public" and not public:
            public = True
        elif duration and range_s is None:
            range_s = int(duration.group(1)) * _UNIT_SECONDS[duration.group(2)]
        elif word.isascii() and word.isdigit() and count is None:
            count = int(word)
        else:
            raise UsageError(word)
    if (range_s is not None and not 0 < range_s <= MAX_RANGE_S) or count == 0:
        raise UsageError(text)
    return SummarizeArgs(range_s=range_s, count=count, public=public)


def build_request(command: dict[str, Any], args: SummarizeArgs, settings: Any, now: float) -> SummaryRequest:
    team = command.get("team_id", "")
    request_id = f"slack:{team}:{command.get('trigger_id')}"
    if args.count is not None and args.range_s is None:
        oldest = None  # the last N messages, however old
    else:
        oldest = now - (args.range_s or settings.default_window_hours * 3600)
    return SummaryRequest(
        request_id=request_id, claim_key=request_id, team=team, channel=command.get("channel_id", ""),
        user=command.get("user_id", ""), oldest=oldest, limit=settings.max_messages, count=args.count,
        public=args.public,
        destination={"response_url": command.get("response_url"), "user": command.get("user_id")},
    )


def _first_word(text: str) -> str:
    words = text.split()
    return words[0].lower() if words else ""


def digests_available() -> bool:
    return importlib.util.find_spec(DIGEST_MODULE) is not None


def register(app: App, deps: Deps) -> None:
    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        # Only pure parsing here: no Web API or Redis call before the ack.
        text = command.get("text") or ""
        if _first_word(text) == "digest":
            if digests_available():
                ack()
            else:
                ack(text="Digests are not available yet.")
            return
        if _first_word(text) == "report":
            ack(text=REPORT_ACK)  # rendering takes a few seconds
            return
        if _first_word(text) == "sharing":
            ack()
            return
        try:
            parse_args(text)
        except UsageError:
            ack(text=USAGE.format(hours=f"{deps.settings.default_window_hours:g}"))
            return
        ack(text="Reading the conversation for your summary…")

    def summarize(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        text = command.get("text") or ""
        if _first_word(text) == "digest":
            _dispatch_digest(text, command, client, respond, deps)
            return
        if _first_word(text) in ADMIN_WORDS:
            _dispatch_admin(text, command, client, respond, deps)
            return
        try:
            args = parse_args(text)
        except UsageError:
            return  # answered by the ack
        request = build_request(command, args, deps.settings, time.time())
        start_summary(request, client, responder(respond), deps)

    app.command(COMMAND)(ack=ack_command, lazy=[summarize])


def _dispatch_digest(
    text: str, command: dict[str, Any], client: WebClient, respond: Respond, deps: Deps
) -> None:
    """DIGEST DISPATCH POINT: `/summarize digest ...` is handled by bot.slack_app.digest_commands."""
    if not digests_available():
        return  # the ack already said "Digests are not available yet."
    args = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    try:
        module = importlib.import_module(DIGEST_MODULE)
        module.handle(args, command, client, respond, deps.settings)
    except Exception:  # noqa: BLE001 - a listener must never crash the app
        log.exception("digest command failed")
        respond(text=":warning: The digest command failed. Please try again.", response_type="ephemeral")


def _dispatch_admin(
    text: str, command: dict[str, Any], client: WebClient, respond: Respond, deps: Deps
) -> None:
    """`/summarize report` and `/summarize sharing ...`, after the ack (users.info, store, rendering)."""
    word, _, rest = text.strip().partition(" ")
    try:
        if word.lower() == "report":
            admin_commands.handle_report(command, client, respond, deps)
        else:
            admin_commands.handle_sharing(rest, command, client, respond, deps)
    except Exception:  # noqa: BLE001 - a listener must never crash the app
        log.exception("/summarize %s failed", word.lower())
        respond(text=f":warning: `/summarize {word.lower()}` failed. Please try again.", response_type="ephemeral")
