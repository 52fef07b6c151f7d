"""Telling a Discord requester that their summary failed or expired: once, and where they can see it.

The failure notice tries, in order: the interaction's original response (an edit, while the token is
valid; a follow-up if a summary part already sits there), a DM, and last a short note in the channel
that addresses only the requester (``allowed_mentions.users``) and never mentions a private request.
Each route waits out short rate limits (bot.discord_app.api); when every route is rate limited for
longer, `notify_failure` raises `DiscordRateLimited` with the shortest wait, and the worker sends the
notice again when it ends (worker.notices: its own retry). The notice is recorded in the request's
ledger (bot.discord_app.sent), so it is sent once however many times the worker's failure path asks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.delivery import TransientDeliveryError
from bot.discord_app.api import DiscordApi, DiscordRateLimited, DiscordRefused, RateLimit
from bot.discord_app.rest import message_body, nonce_for
from bot.discord_app.sent import SentParts
from bot.queue import SummaryJob

log = logging.getLogger("recap.discord.notify")

PLAIN, DM = "plain", "dm"  # renderings of a summary: a DM starts with an intro line
NOTICE, NOTE = "notice", "note"  # one-off steps, recorded like the parts
TOKEN_LIFETIME_S, TOKEN_MARGIN_S = 15 * 60, 60
Route = Callable[[DiscordApi, SummaryJob, str, SentParts], dict[str, Any]]


def token_valid(destination: dict[str, Any], now: float | None = None) -> bool:
    created = float(destination.get("created_at", 0))
    return (now or time.time()) < created + TOKEN_LIFETIME_S - TOKEN_MARGIN_S


def open_dm(api: DiscordApi, user_id: str) -> str:
    """The id of the bot's DM channel with ``user_id`` (Discord opens it, or returns the open one)."""
    return str((api.call("POST", "/users/@me/channels", {"recipient_id": user_id}) or {})["id"])


def requester_only(user_id: str) -> dict[str, Any]:
    """Allowed mentions that notify the addressed requester and nobody else."""
    return {"parse": [], "users": [str(user_id)]}


def _in_interaction(api: DiscordApi, job: SummaryJob, content: str, sent: SentParts) -> dict[str, Any]:
    dest = job.destination
    if not token_valid(dest):
        raise DiscordRefused(401, 50027)  # the token has expired: try the next route
    webhook = f"/webhooks/{dest['application_id']}/{dest['token']}"
    if sent.posted(0) is None:  # the "thinking…" message becomes the notice (private if the request was)
        return api.call("PATCH", webhook + "/messages/@original", message_body(content), auth=False) or {}
    return api.call("POST", webhook + "?wait=true", message_body(content, ephemeral=True), auth=False) or {}


def _by_dm(api: DiscordApi, job: SummaryJob, content: str, sent: SentParts) -> dict[str, Any]:
    body = message_body(content, nonce=nonce_for(job.request_id, NOTICE))
    return api.call("POST", f"/channels/{open_dm(api, job.destination['user_id'])}/messages", body) or {}


def _in_channel(api: DiscordApi, job: SummaryJob, content: str, sent: SentParts) -> dict[str, Any]:
    user = job.destination["user_id"]
    if job.public:
        text = f"<@{user}>, {content[0].lower()}{content[1:]}"
    else:  # a private request stays private: the channel only learns that a DM could not be sent
        text = private_note(user, "I couldn't answer your command")
    return _post_note(api, job, text)


def private_note(user: str, what_happened: str) -> str:
    return (
        f"<@{user}>, {what_happened}, and I can't send you a direct message. Please allow DMs from this "
        "server's members, then run `/summarize` again."
    )


def _post_note(api: DiscordApi, job: SummaryJob, text: str) -> dict[str, Any]:
    user = job.destination["user_id"]
    body = {**message_body(text, nonce=nonce_for(job.request_id, NOTE)), "allowed_mentions": requester_only(user)}
    return api.call("POST", f"/channels/{job.destination['channel_id']}/messages", body) or {}


ROUTES: tuple[Route, ...] = (_in_interaction, _by_dm, _in_channel)


def tell_once(api: DiscordApi, job: SummaryJob, reason: str, sent: SentParts) -> None:
    """Send the notice by the first route that works, unless it was sent before.

    Raises `DiscordRateLimited` (shortest wait) when every route that could work is rate limited.
    """
    if sent.posted(NOTICE) is not None:
        log.info("request %s: the requester was already told", job.request_id)
        return
    content, waits = f"Sorry, I couldn't make that summary. {reason}", []
    for route in ROUTES:
        try:
            sent.record(NOTICE, route(api, job, content, sent))
            return
        except DiscordRateLimited as limited:
            waits.append(limited.retry_after_s or 0.0)
        except (DiscordRefused, TransientDeliveryError) as exc:
            log.info("request %s: notice route %s failed (%s)", job.request_id, route.__name__, type(exc).__name__)
    if waits:
        raise DiscordRateLimited(RateLimit(min(waits), "user", False), "the failure notice")
    log.warning("request %s: no route reached the requester", job.request_id)


def notify_failure(job: SummaryJob, reason: str, settings: Any) -> None:
    """The deliverer's failure hook: tell the requester once.

    Raises only `DiscordRateLimited`, for the worker to send the notice again once the limit ends.
    """
    try:
        tell_once(DiscordApi(settings), job, reason, SentParts.for_request(job.request_id, settings))
    except DiscordRateLimited:
        raise
    except Exception as exc:  # noqa: BLE001 - the job's own failure is already recorded by RQ
        log.warning("could not notify the requester of job %s: %s", job.request_id, type(exc).__name__)


def expiry_note(api: DiscordApi, job: SummaryJob, sent: SentParts) -> None:
    """A private summary whose token expired and whose requester takes no DMs: a note that reveals nothing."""
    if sent.posted(NOTE) is None:
        text = private_note(job.destination["user_id"], "your command expired before I could answer it")
        sent.record(NOTE, _post_note(api, job, text))
