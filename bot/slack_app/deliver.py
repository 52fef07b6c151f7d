"""The worker's Slack deliverer (see worker.delivery): post a finished summary, or a failure notice.

Private summaries go to the requester through the command's ``response_url`` (valid 30 min, 5 uses),
falling back to chat.postEphemeral. Public and thread summaries are posted with chat.postMessage,
in the thread when there is one. 429, 5xx and network errors raise TransientDeliveryError so RQ
retries the job.

A post whose answer was lost (Slack accepted it, then the connection dropped) is "in doubt" in the
ledger; the retry looks for it by its metadata marker (bot.slack_app.posted) and adopts it rather
than posting twice. Private (ephemeral) parts cannot be looked up, so a lost answer there can still
show the requester a part twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.webhook import WebhookClient

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.queue import SummaryJob, redis_connection
from bot.slack_app.blocks import SlackPost, summary_posts
from bot.slack_app.posted import Marker, find_marked, marker

log = logging.getLogger("recap.slack.deliver")

LEDGER_TTL_S = 7 * 86400  # outlives every retry and the failed-job TTL of the job it belongs to
PRIVATE_REF = "private"  # ephemeral posts have no lasting ts
MARKER = "recap_summary"  # metadata event type of every public summary part
CLOCK_SKEW_S = 300  # the search for an in-doubt part starts this long before our clock says it was sent
_POSTS = ("chat.postMessage", "chat.postEphemeral")


class SlackDeliveryError(RuntimeError):
    """Slack refused the post for a reason retrying will not fix (channel gone, bot removed...)."""


class ReadRetryHandler(ConnectionErrorRetryHandler):
    """slack_sdk's connection-error retry, but never for a post: a reset after Slack accepted it would
    post it twice. A failed post fails the attempt instead, and the job's retry checks for it first."""

    def _can_retry(self, *, request: HttpRequest, **kwargs: Any) -> bool:
        return not request.url.endswith(_POSTS) and super()._can_retry(request=request, **kwargs)


def web_client(settings: Any) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=15, retry_handlers=[ReadRetryHandler()])


def _retry_after(exc: SlackApiError) -> float | None:
    """Slack's Retry-After header (seconds), when it sent one: the job waits exactly that long."""
    headers = {str(key).lower(): value for key, value in (exc.response.headers or {}).items()}
    value = headers.get("retry-after")
    value = value[0] if isinstance(value, list) and value else value
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def call_api(method: Any, **params: Any) -> Any:
    """Run one Web API call, sorting errors into transient (retry the job) and permanent."""
    try:
        return method(**params)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = exc.response.get("error")
        if status == 429 or status >= 500 or error in ("ratelimited", "service_unavailable", "fatal_error"):
            raise TransientDeliveryError(f"Slack answered {status} {error}", retry_after_s=_retry_after(exc)) from exc
        raise SlackDeliveryError(f"Slack refused the post: {error}") from exc
    except OSError as exc:  # URLError, timeouts, refused connections
        raise TransientDeliveryError(f"Slack could not be reached: {type(exc).__name__}") from exc


def _via_response_url(url: str, post: SlackPost) -> bool:
    """True if Slack accepted the post; False when the URL expired or was used up (then fall back)."""
    try:
        response = WebhookClient(url, timeout=15).send(
            text=post.text, blocks=post.blocks or None, response_type="ephemeral", replace_original=False,
        )
    except OSError:
        return False
    return response.status_code == 200


class PostLedger:
    """The parts of one summary Slack already accepted, in Redis.

    RQ retries a job after a transient error (a 429 on part 2, Redis blinking before mark_delivered),
    and the store only learns of the delivery after the last part. Without this, a retry would
    post the parts that had already gone out a second time."""

    def __init__(self, settings: Any, request_id: str) -> None:
        self._redis = redis_connection(settings)
        self._key = f"recap:slack:posted:{request_id}"

    def posted(self) -> dict[int, str]:
        stored: dict[bytes, bytes] = self._redis.hgetall(self._key)  # type: ignore[assignment]
        return {int(part): ref.decode() for part, ref in stored.items() if part.isdigit()}

    def record(self, part: int, reference: str) -> None:
        with self._redis.pipeline() as pipe:
            pipe.hset(self._key, str(part), reference)
            pipe.hdel(self._key, f"sending:{part}")
            pipe.expire(self._key, LEDGER_TTL_S)
            pipe.execute()

    def sending(self, part: int) -> None:
        """Mark ``part`` as in doubt (with when) until ``record``: its answer may never arrive."""
        with self._redis.pipeline() as pipe:
            pipe.hset(self._key, f"sending:{part}", str(time.time()))
            pipe.expire(self._key, LEDGER_TTL_S)
            pipe.execute()

    def in_doubt(self, part: int) -> float | None:
        """When an earlier attempt sent ``part`` without learning whether Slack took it; else None."""
        raw = self._redis.hget(self._key, f"sending:{part}")
        return float(raw) if raw is not None else None  # type: ignore[arg-type]


def _ephemeral(client: WebClient, job: SummaryJob, post: SlackPost) -> None:
    params: dict[str, Any] = {"channel": job.channel, "user": job.requester, "text": post.text}
    if post.blocks:
        params["blocks"] = post.blocks
    if job.thread:
        params["thread_ts"] = job.thread
    call_api(client.chat_postEphemeral, **params)


def _private(client: WebClient, job: SummaryJob, posts: list[SlackPost], ledger: PostLedger) -> None:
    url = job.destination.get("response_url")
    done = ledger.posted()
    for part, post in enumerate(posts):
        if part in done:
            continue
        if not (url and _via_response_url(url, post)):
            url = None  # expired (30 min) or used up (5 uses): the rest goes by chat.postEphemeral
            _ephemeral(client, job, post)
        ledger.record(part, PRIVATE_REF)


def _public(client: WebClient, job: SummaryJob, posts: list[SlackPost], ledger: PostLedger) -> str:
    done = ledger.posted()
    for part, post in enumerate(posts):
        if part in done:
            continue
        done[part] = _adopt(client, job, part, ledger) or _post(client, job, part, post, ledger)
        ledger.record(part, done[part])
    return done[0]  # reactions count on the first part, which carries the header


def post_marked(
    client: WebClient, channel: str, post: SlackPost, metadata: Marker, thread_ts: str | None = None
) -> str:
    """Post one public part (no unfurls, with its marker); returns its ref "{channel}:{ts}"."""
    params: dict[str, Any] = {"channel": channel, "text": post.text, "blocks": post.blocks,
                              "unfurl_links": False, "unfurl_media": False, "metadata": metadata}
    if thread_ts:
        params["thread_ts"] = thread_ts
    response = call_api(client.chat_postMessage, **params)
    return f"{response.get('channel') or channel}:{response.get('ts')}"


def _post(client: WebClient, job: SummaryJob, part: int, post: SlackPost, ledger: PostLedger) -> str:
    ledger.sending(part)
    return post_marked(client, job.channel, post, marker(MARKER, request=job.request_id, part=part), job.thread)


def _adopt(client: WebClient, job: SummaryJob, part: int, ledger: PostLedger) -> str | None:
    """The ref of ``part`` if an earlier attempt's post of it reached Slack though its answer was lost.
    Only searched when the ledger says that attempt sent it: a plain retry costs no extra call."""
    sent_at = ledger.in_doubt(part)
    if sent_at is None:
        return None
    wanted = marker(MARKER, request=job.request_id, part=part)
    ts = call_api(find_marked, client=client, channel=job.channel, wanted=wanted,
               since=sent_at - CLOCK_SKEW_S, thread_ts=job.thread)
    if ts:
        log.info("request %s: part %d was posted by an earlier attempt; adopted", job.request_id, part)
    return f"{job.channel}:{ts}" if ts else None


def deliver(job: SummaryJob, summary: DeliveredSummary, settings: Any) -> str | None:
    """Post the summary; returns "{channel}:{ts}" for public posts (reactions find it), else None.
    Safe to call again for the same job: parts already posted are not posted twice."""
    private = not (job.public or job.thread)
    posts = summary_posts(summary.text, summary.summary_id, summary.message_count, private=private)
    client = web_client(settings)
    ledger = PostLedger(settings, job.request_id)
    if private:
        _private(client, job, posts, ledger)
        log.info("summary %s delivered privately in %s", summary.summary_id, job.channel)
        return None
    reference = _public(client, job, posts, ledger)
    log.info("summary %s posted in %s", summary.summary_id, job.channel)
    return reference


def notify_failure(job: SummaryJob, reason: str, settings: Any) -> None:
    """Tell the requester, privately, that their summary failed."""
    post = SlackPost(text=f":warning: {reason}", blocks=[])
    url = job.destination.get("response_url")
    if not (url and _via_response_url(url, post)):
        _ephemeral(web_client(settings), job, post)
