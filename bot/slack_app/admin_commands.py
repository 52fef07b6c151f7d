"""`/summarize report` and `/summarize sharing on|off|show` (Slack admin commands).

Called by bot.slack_app.commands after the ack, with the text after the first word. Changing
sharing and reading the report are for workspace admins and owners (users.info) or the ids in
RECAP_SLACK_DIGEST_ADMINS: the same check as digests. Every reply is ephemeral; the HTML report
goes to the admin's DM with Recap, never to the channel, because it shows every workspace's feedback.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.admin_report import FILENAME, build_chat_report
from bot.slack_app.blocks import escape
from bot.slack_app.digest_commands import is_admin
from bot.slack_app.flow import Deps

log = logging.getLogger("recap.slack.admin")

NOT_ADMIN = "Only workspace admins and owners (or the operator's Recap admins) can use `/summarize {what}`."
SHARING_USAGE = "Usage: `/summarize sharing on`, `/summarize sharing off` or `/summarize sharing show`."
SHARING_ON = (
    "Sharing is *on* for this workspace: from now on, the conversation text each summary was made from "
    "is kept for {days} days (`RECAP_RETENTION_DAYS`) and then deleted; only conversations whose summary "
    "was rated :+1: are used to train the summarizer. Messages that were never summarized, files, and "
    "anything from before you turned sharing on are never kept."
)
SHARING_OFF = (
    "Sharing is *off* for this workspace: no conversation text is kept, only the summaries and the "
    ":+1: / :-1: votes (for {days} days). Turn it on with `/summarize sharing on`."
)
UPLOAD_FAILED = "I could not send you the HTML report ({error}); check that Recap has the `files:write` scope."


def _reply(respond: Respond, text: str) -> None:
    respond(text=text, response_type="ephemeral", replace_original=False)


def _refused(client: WebClient, command: dict[str, Any], deps: Deps, what: str, respond: Respond) -> bool:
    if is_admin(client, command.get("user_id", ""), deps.settings):
        return False
    log.info("/summarize %s refused: not an admin", what)
    _reply(respond, NOT_ADMIN.format(what=what))
    return True


def handle_sharing(args: str, command: dict[str, Any], client: WebClient, respond: Respond, deps: Deps) -> None:
    """`on` / `off` need an admin; `show` is open to everyone, so members can see what is kept."""
    words = args.lower().split()
    action = words[0] if words else "show"
    if action not in ("on", "off", "show") or len(words) > 1:
        _reply(respond, SHARING_USAGE)
        return
    team, store = command.get("team_id", ""), deps.store()
    if action != "show":
        if _refused(client, command, deps, "sharing", respond):
            return
        store.set_sharing("slack", team, action == "on")
        log.info("team %s: training-data sharing %s", team, action)
    enabled = store.sharing_enabled("slack", team)
    _reply(respond, (SHARING_ON if enabled else SHARING_OFF).format(days=deps.settings.retention_days))


def handle_report(command: dict[str, Any], client: WebClient, respond: Respond, deps: Deps) -> None:
    """The text summary as an ephemeral reply; the self-contained HTML in the admin's DM with Recap."""
    if _refused(client, command, deps, "report", respond):
        return
    report = build_chat_report(deps.store())
    try:
        _upload_to_dm(client, command.get("user_id", ""), report.html)
        note = f"The full report (charts included) is in your direct messages with Recap, as `{FILENAME}`."
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.warning("report upload failed: %s", error)
        note = UPLOAD_FAILED.format(error=escape(error))
    _reply(respond, f"{escape(report.text)}\n{note}")


def _upload_to_dm(client: WebClient, user: str, html: bytes) -> str:
    """Open (or reuse) the DM with the admin and upload the report there; returns the DM channel id."""
    channel = client.conversations_open(users=user)["channel"]["id"]
    client.files_upload_v2(
        channel=channel, file=html, filename=FILENAME, title="Recap evaluation report",
        initial_comment="Your Recap evaluation report: live feedback and latency, charts embedded.",
    )
    return channel
