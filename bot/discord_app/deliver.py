"""The worker's Discord delivery step (synchronous: RQ job functions are plain functions).

While the interaction token is valid (15 min) the first part edits the interaction's original
response (the "thinking…" message): `PATCH /webhooks/{app}/{token}/messages/@original` is safe to
repeat, so a first part whose answer was lost is never posted twice. Later parts are follow-ups; for
a public summary a follow-up whose answer was lost is looked up in the channel before it is sent again.
Afterwards a public summary is posted in the channel, and a private one is sent by DM (the expiry
note of bot.discord_app.notify if DMs are closed). Channel and DM posts carry an enforced nonce.
Rate limits: bot.discord_app.api waits out short ones and raises `DiscordRateLimited` (a
`TransientDeliveryError` with Discord's wait) for longer ones, so the worker reschedules the job for
when the limit ends (worker.failures); a limit that outlasts the delivery window
(``RECAP_DELIVERY_WINDOWS_S["discord"]``) ends the job with the requester told, and the summary row stays
undelivered.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
import requests

from bot.delivery import DeliveredSummary
from bot.discord_app.api import DiscordApi, DiscordRefused
from bot.discord_app.notify import DM, PLAIN, expiry_note, notify_failure, open_dm, token_valid
from bot.discord_app.rest import (
    UP,
    VOTE_EMOJI,
    defuse_all_links,
    message_body,
    nonce_for,
    split_message,
    vote_components,
)
from bot.discord_app.sent import SentParts
from bot.queue import SummaryJob
from bot.store import store_for

__all__ = [
    "DiscordApi", "DiscordRefused", "add_vote_reactions", "deliver", "notify_failure", "open_dm", "render",
    "token_valid",
]

log = logging.getLogger("recap.discord.deliver")

REACTIONS = "reactions"  # a one-off step, recorded like the parts
UNKNOWN_CHANNEL = 10003
EMPTY_OUTPUT = "The summarizer produced no text for these messages. Try a different range, or try again later."


class UndeliveredSummary(RuntimeError):
    """Delivery is over without the summary shown (the requester has been told); not worth retrying."""


def render(job: SummaryJob, summary: DeliveredSummary, intro: str = "") -> list[str]:
    destination = job.destination
    count = summary.message_count or job.message_count
    header = f"**Summary** of {count} messages ({destination.get('scope', '')})"
    if destination.get("capped"):
        limit, cut = destination.get("limit") or count, destination.get("cut", "older")
        header += f" — I stopped at the limit of {limit} messages, so {cut} ones were left out"
    # Generated text is defused: no `@everyone` or `<@id>` may even look like a mention, no link is live.
    text = discord.utils.escape_mentions(defuse_all_links(summary.text.strip()))
    parts = [intro, header + ":", text, destination.get("note", "")]
    return split_message("\n".join(part for part in parts if part))


def _dm_intro(job: SummaryJob) -> str:
    return (
        f"Here is the private summary you asked for in <#{job.destination['channel_id']}> (I could not "
        "answer the command itself in time):"
    )


def _chunks(job: SummaryJob, summary: DeliveredSummary, sent: SentParts, default: str) -> tuple[str, list[str]]:
    """The parts to post; a retry renders them exactly as the attempt that posted the first ones did."""
    variant = sent.variant(default)
    return variant, render(job, summary, _dm_intro(job) if variant == DM else "")


def _send_all(
    api: DiscordApi, path: str, chunks: list[str], components: list[Any] | None, sent: SentParts, variant: str,
    *, nonce_key: str = "",
) -> dict[str, Any]:
    """Channel or DM posts of the parts not yet posted; a lost answer is caught by the part's nonce."""
    message: dict[str, Any] = {}
    for index, chunk in enumerate(chunks):
        already = sent.posted(index)
        if already is not None:  # posted by an earlier attempt of this job
            message = already
            continue
        last = index == len(chunks) - 1
        body = message_body(chunk, components=components if last else None, nonce=nonce_for(nonce_key, index))
        message = api.call("POST", path, body) or {}
        sent.record(index, message, variant)
    return message


class InteractionPoster:
    """The parts of a summary through the interaction: the original response first, then follow-ups."""

    def __init__(self, api: DiscordApi, job: SummaryJob, sent: SentParts) -> None:
        dest = job.destination
        self.api, self.job, self.sent = api, job, sent
        self.webhook = f"/webhooks/{dest['application_id']}/{dest['token']}"

    def post(self, index: int, chunk: str, components: list[Any] | None) -> dict[str, Any]:
        if index == 0:  # an edit: repeating it after a lost answer leaves the same one message
            body = message_body(chunk, components=components)
            return self.api.call("PATCH", self.webhook + "/messages/@original", body, auth=False) or {}
        found = self._landed(index, chunk) if self.sent.attempted(index) else None
        if found is not None:
            log.info("request %s: part %d had been posted; its lost answer is not repeated", self.job.request_id, index)
            return found
        self.sent.attempt(index)
        body = message_body(chunk, ephemeral=not self.job.public, components=components)
        return self.api.call("POST", self.webhook + "?wait=true", body, auth=False) or {}

    def _landed(self, index: int, chunk: str) -> dict[str, Any] | None:
        """A public follow-up sent by an attempt whose answer was lost: find it in the channel after the part
        before it. Ephemeral follow-ups cannot be looked up (see docs: the one duplicate left)."""
        previous = self.sent.posted(index - 1)
        if not self.job.public or previous is None:
            return None
        channel = previous.get("channel_id") or self.job.destination["channel_id"]
        page = self.api.get(f"/channels/{channel}/messages?after={previous['id']}&limit=50") or []
        ours = [m for m in page if str(m.get("webhook_id")) == str(self.job.destination["application_id"])]
        return next((m for m in ours if m.get("content") == chunk), None)


def _via_interaction(api: DiscordApi, job: SummaryJob, summary: DeliveredSummary, sent: SentParts) -> dict[str, Any]:
    variant, chunks = _chunks(job, summary, sent, PLAIN)
    components = vote_components(summary.summary_id) if job.public else None
    poster, message = InteractionPoster(api, job, sent), {}
    for index, chunk in enumerate(chunks):
        message = sent.posted(index) or {}
        if not message:
            message = poster.post(index, chunk, components if index == len(chunks) - 1 else None)
            sent.record(index, message, variant)
    return message


def add_vote_reactions(api: DiscordApi, channel_id: str, message_id: str) -> None:
    """Seed 👍 / 👎 under a message (also used by the digest poster). Adding one twice is a no-op."""
    for emoji in VOTE_EMOJI:
        encoded = requests.utils.quote(emoji)
        try:
            api.call("PUT", f"/channels/{channel_id}/messages/{message_id}/reactions/{encoded}/@me")
        except DiscordRefused as exc:  # e.g. no Add Reactions permission: the buttons still work
            log.warning("could not add %s reaction: HTTP %s", "up" if emoji == UP else "down", exc.status)


def _react_once(api: DiscordApi, sent: SentParts, message: dict[str, Any]) -> None:
    if message.get("id") and sent.posted(REACTIONS) is None:
        add_vote_reactions(api, str(message["channel_id"]), str(message["id"]))
        sent.record(REACTIONS, message)


def _ref(message: dict[str, Any]) -> str | None:
    return f"{message['channel_id']}:{message['id']}" if message.get("id") else None


def _fallback(api: DiscordApi, job: SummaryJob, summary: DeliveredSummary, sent: SentParts) -> dict[str, Any]:
    dest = job.destination
    if job.public:
        variant, chunks = _chunks(job, summary, sent, PLAIN)
        path, key = f"/channels/{dest['channel_id']}/messages", f"{job.request_id}:{variant}"
        return _send_all(api, path, chunks, vote_components(summary.summary_id), sent, variant, nonce_key=key)
    try:
        variant, chunks = _chunks(job, summary, sent, DM)
        path, key = f"/channels/{open_dm(api, dest['user_id'])}/messages", f"{job.request_id}:{variant}"
        return _send_all(api, path, chunks, None, sent, variant, nonce_key=key)
    except DiscordRefused as exc:
        log.info("summary %s: DM refused (HTTP %s); posting an expiry note", summary.summary_id, exc.status)
    expiry_note(api, job, sent)
    return {}


def _post(api: DiscordApi, job: SummaryJob, summary: DeliveredSummary, sent: SentParts, via_token: bool) -> str | None:
    message: dict[str, Any] = {}
    if via_token:
        try:
            message = _via_interaction(api, job, summary, sent)
        except DiscordRefused as exc:  # token revoked, unknown webhook, deferral never landed: the fallback
            if exc.code == UNKNOWN_CHANNEL and job.public:
                raise
            log.info("summary %s: interaction refused (HTTP %s, code %s)", summary.summary_id, exc.status, exc.code)
    if not message:
        log.info("summary %s: interaction token expired or refused, using the fallback", summary.summary_id)
        message = _fallback(api, job, summary, sent)
    if job.public:
        _react_once(api, sent, message)
    return _ref(message)


def deliver(job: SummaryJob, summary: DeliveredSummary, settings: Any) -> str | None:
    """Post the summary; returns "{channel_id}:{message_id}" of the message that carries the votes.

    Safe to run again for the same job (RQ retries): parts already posted are skipped.
    """
    if not summary.text.strip():  # nothing titled "Summary" over an empty text: say what happened instead
        notify_failure(job, EMPTY_OUTPUT, settings)
        raise UndeliveredSummary(f"summary {summary.summary_id}: the model output was empty")
    sent, api = SentParts.for_request(job.request_id, settings), DiscordApi(settings)
    via_token = token_valid(job.destination) and sent.variant(PLAIN) != DM
    try:
        ref = _post(api, job, summary, sent, via_token)
    except DiscordRefused as exc:
        if exc.code != UNKNOWN_CHANNEL:
            raise
        log.info("summary %s: the channel was deleted; nothing to post", summary.summary_id)
        return None
    if job.public:
        _remember_parts(settings, summary.summary_id, sent)
    return ref


def _remember_parts(settings: Any, summary_id: int, sent: SentParts) -> None:
    """Tie every part of a public summary to its row: a 👍 / 👎 on any part counts as its feedback."""
    try:
        store_for(settings).add_message_refs(summary_id, "discord", sent.part_refs())
    except Exception as exc:  # noqa: BLE001 - the summary is posted; only votes on other parts are lost
        log.warning("summary %s: could not record its message parts (%s)", summary_id, type(exc).__name__)
