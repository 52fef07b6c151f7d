"""The worker's Discord delivery step (synchronous: RQ job functions are plain functions).

While the interaction token is valid (15 min) the summary goes out as the interaction's follow-up,
which replaces the "thinking…" message. Afterwards a public summary is posted in the channel, and a
private one is sent by DM, or, if DMs are closed, replaced by a short "expired" note without text.
Every message carries no allowed mentions and suppressed link embeds. 429 / 5xx / network errors
raise `TransientDeliveryError`, so RQ retries with backoff.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.discord_app.rest import (
    UP,
    VOTE_EMOJI,
    api_base,
    message_flags,
    no_mentions,
    split_message,
    vote_components,
)
from bot.queue import SummaryJob

log = logging.getLogger("recap.discord.deliver")

TOKEN_LIFETIME_S = 15 * 60
TOKEN_MARGIN_S = 60  # leave time for the request itself
SHORT_RETRY_S = 5.0  # wait inline for a 429 this short; longer ones go back to RQ's backoff


class DiscordApi:
    """A tiny REST client on the configured base URL; errors map to transient or permanent ones."""

    def __init__(self, settings: Any) -> None:
        self.base = api_base(settings)
        token = settings.discord_token.get_secret_value() if settings.discord_token else ""
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (recap, 0.1)"}
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True) -> Any:
        headers: dict[str, str | None] | None = None if auth else {"Authorization": None}
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
            return _json(response) if response.content else None
        raise TransientDeliveryError("Discord rate limit persisted")


class DiscordRefused(RuntimeError):
    """A 4xx other than 429: retrying will not help (expired token, missing permission, DMs closed)."""

    def __init__(self, status: int, code: int) -> None:
        super().__init__(f"Discord refused the request: HTTP {status}, code {code}")
        self.status, self.code = status, code


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def token_valid(destination: dict[str, Any], now: float | None = None) -> bool:
    created = float(destination.get("created_at", 0))
    return (now or time.time()) < created + TOKEN_LIFETIME_S - TOKEN_MARGIN_S


def render(job: SummaryJob, summary: DeliveredSummary, intro: str = "") -> list[str]:
    destination = job.destination
    count = summary.message_count or job.message_count
    header = f"**Summary** of {count} messages ({destination.get('scope', '')})"
    if destination.get("capped"):
        header += " — only the newest messages up to the limit were read"
    parts = [intro, header + ":", summary.text.strip(), destination.get("note", "")]
    return split_message("\n".join(part for part in parts if part))


def _body(content: str, *, ephemeral: bool = False, components: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "content": content,
        "allowed_mentions": no_mentions(),
        "flags": message_flags(ephemeral=ephemeral),
    }
    if components:
        body["components"] = components
    return body


def _send_all(
    api: DiscordApi,
    path: str,
    chunks: list[str],
    components: list[Any] | None,
    *,
    ephemeral: bool = False,
    auth: bool = True,
) -> dict[str, Any]:
    """Post the chunks in order; the buttons go under the last one. Returns the last message."""
    message: dict[str, Any] = {}
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        message = (
            api.call(
                "POST",
                path,
                _body(chunk, ephemeral=ephemeral, components=components if last else None),
                auth=auth,
            )
            or {}
        )
    return message


def _add_reactions(api: DiscordApi, channel_id: str, message_id: str) -> None:
    for emoji in VOTE_EMOJI:
        encoded = requests.utils.quote(emoji)
        try:
            api.call("PUT", f"/channels/{channel_id}/messages/{message_id}/reactions/{encoded}/@me")
        except DiscordRefused as exc:  # e.g. no Add Reactions permission: the buttons still work
            log.warning("could not add %s reaction: HTTP %s", "up" if emoji == UP else "down", exc.status)


def _dm(api: DiscordApi, user_id: str, chunks: list[str]) -> dict[str, Any]:
    channel = api.call("POST", "/users/@me/channels", {"recipient_id": user_id}) or {}
    return _send_all(api, f"/channels/{channel['id']}/messages", chunks, None)


def _ref(message: dict[str, Any]) -> str | None:
    return f"{message['channel_id']}:{message['id']}" if message.get("id") else None


def _via_followup(
    api: DiscordApi, job: SummaryJob, chunks: list[str], components: list[Any] | None
) -> str | None:
    dest = job.destination
    path = f"/webhooks/{dest['application_id']}/{dest['token']}?wait=true"
    message = _send_all(api, path, chunks, components, ephemeral=not job.public, auth=False)
    if job.public and message.get("id"):
        _add_reactions(api, message["channel_id"], message["id"])
    return _ref(message)


def _fallback(api: DiscordApi, job: SummaryJob, summary: DeliveredSummary) -> str | None:
    dest = job.destination
    if job.public:
        message = _send_all(
            api,
            f"/channels/{dest['channel_id']}/messages",
            render(job, summary),
            vote_components(summary.summary_id),
        )
        _add_reactions(api, message["channel_id"], message["id"])
        return _ref(message)
    intro = (
        f"Here is the private summary you asked for in <#{dest['channel_id']}> (it was ready after the "
        "command had expired):"
    )
    try:
        return _ref(_dm(api, dest["user_id"], render(job, summary, intro)))
    except DiscordRefused as exc:
        log.info("summary %s: DM refused (HTTP %s); posting an expiry note", summary.summary_id, exc.status)
    note = (
        f"<@{dest['user_id']}>, your private summary expired before it could be shown, and I can't send "
        "you a DM. Please run `/summarize` again."
    )
    _send_all(api, f"/channels/{dest['channel_id']}/messages", [note], None)
    return None


def deliver(job: SummaryJob, summary: DeliveredSummary, settings: Any) -> str | None:
    """Post the summary; returns "{channel_id}:{message_id}" of the message that carries the votes."""
    api = DiscordApi(settings)
    components = vote_components(summary.summary_id) if job.public else None
    if token_valid(job.destination):
        try:
            return _via_followup(api, job, render(job, summary), components)
        except DiscordRefused as exc:  # token revoked or unknown webhook: use the fallback below
            log.info(
                "summary %s: follow-up refused (HTTP %s, code %s)", summary.summary_id, exc.status, exc.code
            )
    log.info("summary %s: interaction token expired, using the fallback", summary.summary_id)
    return _fallback(api, job, summary)


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
                _body(content, ephemeral=True),
                auth=False,
            )
        else:
            _dm(api, dest["user_id"], [content])
    except Exception as exc:  # noqa: BLE001 - the job's own failure is already recorded by RQ
        log.warning("could not notify the requester of job %s: %s", job.request_id, type(exc).__name__)
