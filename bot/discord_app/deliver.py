"""The worker's Discord delivery step (synchronous: RQ job functions are plain functions).

While the interaction token is valid (15 min) the summary goes out as the interaction's follow-up,
which replaces the "thinking…" message. Afterwards a public summary is posted in the channel, and a
private one is sent by DM, or, if DMs are closed, replaced by a short "expired" note without text.
Every message carries no allowed mentions and suppressed link embeds. 429 / 5xx / network errors
raise `TransientDeliveryError`, so RQ retries with backoff. Channel and DM posts carry an enforced
nonce, so a retry of a post whose answer was lost does not post it again. Every part of a public
summary is recorded in the store, so a 👍 / 👎 on any part counts for it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import discord
import requests

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.discord_app.rest import (
    UP,
    VOTE_EMOJI,
    api_base,
    message_body,
    nonce_for,
    split_message,
    vote_components,
)
from bot.discord_app.sent import SentParts
from bot.queue import SummaryJob
from bot.store import store_for

log = logging.getLogger("recap.discord.deliver")

TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 60  # leave time for the request itself
PLAIN, DM = "plain", "dm"  # renderings: a DM starts with an intro line
REACTIONS, NOTE = "reactions", "note"  # one-off steps, recorded like the parts
SHORT_RETRY_S = 5.0  # wait inline for a 429 this short; longer ones go back to RQ's backoff


class DiscordApi:
    """A tiny REST client on the configured base URL; errors map to transient or permanent ones."""

    def __init__(self, settings: Any) -> None:
        self.base = api_base(settings)
        token = settings.discord_token.get_secret_value() if settings.discord_token else ""
        self.auth = {"Authorization": f"Bot {token}"}
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": "DiscordBot (recap, 0.1)"})

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True) -> Any:
        # Webhook (follow-up) calls are authorized by the token in their path, not the bot token.
        headers = self.auth if auth else None
        for _attempt in range(2):
            try:
                response = self.session.request(
                    method, self.base + path, json=body, headers=headers, timeout=15
                )
            except requests.RequestException as exc:
                raise TransientDeliveryError(f"Discord unreachable ({type(exc).__name__})") from exc
            if response.status_code == 429:
                wait = float(_json(response).get("retry_after", SHORT_RETRY_S + 1))
                if wait <= SHORT_RETRY_S:
                    time.sleep(wait)
                    continue
                raise TransientDeliveryError(f"Discord rate limit: retry after {wait:.0f} s")
            if response.status_code >= 500:
                raise TransientDeliveryError(f"Discord answered HTTP {response.status_code}")
            if response.status_code >= 400:
                raise DiscordRefused(response.status_code, int(_json(response).get("code", 0)))
            return _decoded(response) if response.content else None
        raise TransientDeliveryError("Discord rate limit persisted")

    def get(self, path: str) -> Any:
        """A bot-authorized GET; the answer may be a JSON list (history, roles, channels)."""
        return self.call("GET", path)


class DiscordRefused(RuntimeError):
    """A 4xx other than 429: retrying will not help (expired token, missing permission, DMs closed)."""

    def __init__(self, status: int, code: int) -> None:
        super().__init__(f"Discord refused the request: HTTP {status}, code {code}")
        self.status, self.code = status, code


def _decoded(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _json(response: requests.Response) -> dict[str, Any]:
    data = _decoded(response)
    return data if isinstance(data, dict) else {}


def token_valid(destination: dict[str, Any], now: float | None = None) -> bool:
    created = float(destination.get("created_at", 0))
    return (now or time.time()) < created + TOKEN_LIFETIME_S - TOKEN_MARGIN_S


def render(job: SummaryJob, summary: DeliveredSummary, intro: str = "") -> list[str]:
    destination = job.destination
    count = summary.message_count or job.message_count
    header = f"**Summary** of {count} messages ({destination.get('scope', '')})"
    if destination.get("capped"):
        limit, cut = destination.get("limit") or count, destination.get("cut", "older")
        header += f" — I stopped at the limit of {limit} messages, so {cut} ones were left out"
    # Generated text is escaped as well: no `@everyone` or `<@id>` in it may even look like a mention.
    text = discord.utils.escape_mentions(summary.text.strip())
    parts = [intro, header + ":", text, destination.get("note", "")]
    return split_message("\n".join(part for part in parts if part))


def _dm_intro(job: SummaryJob) -> str:
    return (
        f"Here is the private summary you asked for in <#{job.destination['channel_id']}> (it was ready "
        "after the command had expired):"
    )


def _chunks(job: SummaryJob, summary: DeliveredSummary, sent: SentParts, default: str) -> tuple[str, list[str]]:
    """The parts to post; a retry renders them exactly as the attempt that posted the first ones did."""
    variant = sent.variant(default)
    return variant, render(job, summary, _dm_intro(job) if variant == DM else "")


def _send_all(
    api: DiscordApi,
    path: str,
    chunks: list[str],
    components: list[Any] | None,
    sent: SentParts,
    variant: str,
    *,
    ephemeral: bool = False,
    auth: bool = True,
    nonce_key: str = "",
) -> dict[str, Any]:
    """Post the parts not yet posted, in order; the buttons go under the last. Returns the last message.

    ``sent`` skips the parts whose answer arrived. A part whose post went through but whose answer was
    lost is caught by its nonce (``nonce_key``), for channel and DM posts. Follow-up webhooks accept no
    nonce, so there a lost answer can still lead to that one part being posted twice.
    """
    message: dict[str, Any] = {}
    for index, chunk in enumerate(chunks):
        already = sent.posted(index)
        if already is not None:  # posted by an earlier attempt of this job
            message = already
            continue
        last = index == len(chunks) - 1
        nonce = nonce_for(nonce_key, index) if nonce_key else ""
        body = message_body(chunk, ephemeral=ephemeral, components=components if last else None, nonce=nonce)
        message = api.call("POST", path, body, auth=auth) or {}
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


def open_dm(api: DiscordApi, user_id: str) -> str:
    """The id of the bot's DM channel with ``user_id`` (Discord opens it, or returns the open one)."""
    return str((api.call("POST", "/users/@me/channels", {"recipient_id": user_id}) or {})["id"])


def _ref(message: dict[str, Any]) -> str | None:
    return f"{message['channel_id']}:{message['id']}" if message.get("id") else None


def _via_followup(api: DiscordApi, job: SummaryJob, summary: DeliveredSummary, sent: SentParts) -> str | None:
    dest = job.destination
    path = f"/webhooks/{dest['application_id']}/{dest['token']}?wait=true"
    variant, chunks = _chunks(job, summary, sent, PLAIN)
    components = vote_components(summary.summary_id) if job.public else None
    message = _send_all(api, path, chunks, components, sent, variant, ephemeral=not job.public, auth=False)
    if job.public:
        _react_once(api, sent, message)
    return _ref(message)


def _fallback(api: DiscordApi, job: SummaryJob, summary: DeliveredSummary, sent: SentParts) -> str | None:
    dest = job.destination
    if job.public:
        variant, chunks = _chunks(job, summary, sent, PLAIN)
        components = vote_components(summary.summary_id)
        path, key = f"/channels/{dest['channel_id']}/messages", f"{job.request_id}:{variant}"
        message = _send_all(api, path, chunks, components, sent, variant, nonce_key=key)
        _react_once(api, sent, message)
        return _ref(message)
    try:
        variant, chunks = _chunks(job, summary, sent, DM)
        path, key = f"/channels/{open_dm(api, dest['user_id'])}/messages", f"{job.request_id}:{variant}"
        return _ref(_send_all(api, path, chunks, None, sent, variant, nonce_key=key))
    except DiscordRefused as exc:
        log.info("summary %s: DM refused (HTTP %s); posting an expiry note", summary.summary_id, exc.status)
    if sent.posted(NOTE) is None:
        note = (
            f"<@{dest['user_id']}>, your private summary expired before it could be shown, and I can't "
            "send you a DM. Please run `/summarize` again."
        )
        body = message_body(note, nonce=nonce_for(job.request_id, NOTE))
        sent.record(NOTE, api.call("POST", f"/channels/{dest['channel_id']}/messages", body) or {})
    return None


def deliver(job: SummaryJob, summary: DeliveredSummary, settings: Any) -> str | None:
    """Post the summary; returns "{channel_id}:{message_id}" of the message that carries the votes.

    Safe to run again for the same job (RQ retries): parts already posted are skipped.
    """
    sent = SentParts.for_request(job.request_id, settings)
    ref = _post(DiscordApi(settings), job, summary, sent)
    if job.public:
        _remember_parts(settings, summary.summary_id, sent)
    return ref


def _post(api: DiscordApi, job: SummaryJob, summary: DeliveredSummary, sent: SentParts) -> str | None:
    if token_valid(job.destination) and sent.variant(PLAIN) != DM:
        try:
            return _via_followup(api, job, summary, sent)
        except DiscordRefused as exc:  # token revoked or unknown webhook: use the fallback below
            log.info(
                "summary %s: follow-up refused (HTTP %s, code %s)", summary.summary_id, exc.status, exc.code
            )
    log.info("summary %s: interaction token expired, using the fallback", summary.summary_id)
    return _fallback(api, job, summary, sent)


def _remember_parts(settings: Any, summary_id: int, sent: SentParts) -> None:
    """Tie every part of a public summary to its row: a 👍 / 👎 on any part counts as its feedback."""
    try:
        store_for(settings).add_message_refs(summary_id, "discord", sent.part_refs())
    except Exception as exc:  # noqa: BLE001 - the summary is posted; only votes on other parts are lost
        log.warning("summary %s: could not record its message parts (%s)", summary_id, type(exc).__name__)


def notify_failure(job: SummaryJob, reason: str, settings: Any) -> None:
    """Tell the requester, ephemerally while the token is valid, else by DM. Never raises."""
    api = DiscordApi(settings)
    dest = job.destination
    content = f"Sorry, I couldn't make that summary. {reason}"
    try:
        if token_valid(dest):
            api.call(
                "POST",
                f"/webhooks/{dest['application_id']}/{dest['token']}",
                message_body(content, ephemeral=True),
                auth=False,
            )
        else:
            channel = open_dm(api, dest["user_id"])
            api.call("POST", f"/channels/{channel}/messages", message_body(content))
    except Exception as exc:  # noqa: BLE001 - the job's own failure is already recorded by RQ
        log.warning("could not notify the requester of job %s: %s", job.request_id, type(exc).__name__)
