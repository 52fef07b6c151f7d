"""The worker's Slack deliverer (see worker.delivery): post a finished summary, or a failure notice.

Private summaries go to the requester through the command's ``response_url`` (valid 30 min, 5 uses),
falling back to chat.postEphemeral. Public and thread summaries are posted with chat.postMessage,
in the thread when there is one. Every Web API call goes through ``bot.slack_app.webapi.call_api``:
short 429s are waited out, long ones raise ``TransientDeliveryError(retry_after_s=...)`` so the worker
reschedules the job for when Slack's limit ends.

A post whose answer was lost (Slack accepted it, then the connection dropped) is "in doubt" in the
ledger; the retry looks for it by its metadata marker (bot.slack_app.posted) and adopts it rather
than posting twice. Ephemeral posts cannot be looked up, so a response_url post whose answer never
came (read timeout, reset after sending) is taken as shown and never repeated: Slack applies such
posts in practice, and repeating would show the requester the summary twice.
"""

from __future__ import annotations

import enum
import http.client
import logging
import time
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.queue import SummaryJob, redis_connection
from bot.slack_app.blocks import EmptySummaryError, SlackPost, show_again_post, summary_posts
from bot.slack_app.posted import Marker, find_marked, marker
from bot.slack_app.webapi import ReadRetryHandler, SlackDeliveryError, call_api, web_client

__all__ = ["ReadRetryHandler", "SlackDeliveryError", "call_api", "deliver", "notify_failure", "post_marked",
           "web_client"]

log = logging.getLogger("recap.slack.deliver")

LEDGER_TTL_S = 7 * 86400  # outlives every retry and the failed-job TTL of the job it belongs to
PRIVATE_REF = "private"  # ephemeral posts have no lasting ts
MARKER = "recap_summary"  # metadata event type of every public summary part
CLOCK_SKEW_S = 300  # the search for an in-doubt part starts this long before our clock says it was sent
RESPONSE_URL_TIMEOUT_S = 15
EMPTY_SUMMARY = (
    "The summarizer produced an empty summary for this conversation, so there is nothing to post. "
    "Try again, or pick a longer range (`/summarize 2h`)."
)


class Sent(enum.Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # expired, used up, rate limited or never sent: another way must be tried
    IN_DOUBT = "in doubt"  # sent, but no answer came: Slack may well have shown it


def _via_response_url(url: str, post: SlackPost) -> Sent:
    """Post to a response_url once (no client retries: a resend after a lost answer shows it twice)."""
    client = WebhookClient(url, timeout=RESPONSE_URL_TIMEOUT_S, retry_handlers=[])
    try:
        response = client.send(
            text=post.text, blocks=post.blocks or None, response_type="ephemeral", replace_original=False,
        )
    except URLError:  # refused, DNS: the request never reached Slack
        return Sent.REFUSED
    except (TimeoutError, ConnectionError, http.client.HTTPException):
        return Sent.IN_DOUBT  # the request went out; its answer did not come back
    except OSError:
        return Sent.REFUSED
    return Sent.ACCEPTED if response.status_code == 200 else Sent.REFUSED


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


def _private(
    client: WebClient, job: SummaryJob, posts: list[SlackPost], ledger: PostLedger, summary_id: int
) -> None:
    url = job.destination.get("response_url")
    done = ledger.posted()
    in_doubt = False
    for part, post in enumerate(posts):
        if part in done:
            continue
        sent = _via_response_url(url, post) if url else Sent.REFUSED
        if sent is Sent.IN_DOUBT:
            log.warning("request %s: part %d sent to response_url, answer lost; not repeated", job.request_id, part)
            in_doubt = True
        elif sent is Sent.REFUSED:
            url = None  # expired (30 min) or used up (5 uses): the rest goes by chat.postEphemeral
            _ephemeral(client, job, post)
        ledger.record(part, PRIVATE_REF)
    if in_doubt:
        _offer_show_again(client, job, summary_id)


def _offer_show_again(client: WebClient, job: SummaryJob, summary_id: int) -> None:
    """After a lost answer the summary was most likely shown; if it was not, the requester can ask for
    it (bot.slack_app.actions) rather than being shown it twice unasked."""
    try:
        _ephemeral(client, job, show_again_post(summary_id))
    except (TransientDeliveryError, SlackDeliveryError) as exc:
        log.warning("request %s: could not offer to show the summary again (%s)", job.request_id, exc)


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
    try:
        posts = summary_posts(summary.text, summary.summary_id, summary.message_count, private=private)
    except EmptySummaryError:
        log.warning("summary %s is empty: the requester is told, nothing is posted", summary.summary_id)
        notify_failure(job, EMPTY_SUMMARY, settings)
        return None
    client = web_client(settings)
    ledger = PostLedger(settings, job.request_id)
    if private:
        _private(client, job, posts, ledger, summary.summary_id)
        log.info("summary %s delivered privately in %s", summary.summary_id, job.channel)
        return None
    reference = _public(client, job, posts, ledger)
    log.info("summary %s posted in %s", summary.summary_id, job.channel)
    return reference


def _notice_by_dm(client: WebClient, job: SummaryJob, post: SlackPost) -> None:
    opened = call_api(client.conversations_open, users=job.requester)
    call_api(client.chat_postMessage, channel=opened["channel"]["id"], text=post.text, unfurl_links=False)


def notify_failure(job: SummaryJob, reason: str, settings: Any) -> None:
    """Tell the requester, privately, that their summary failed: the response_url, then an ephemeral
    message, then a DM from Recap. Short rate limits are waited out in place; a long one on the ephemeral
    raises ``TransientDeliveryError(retry_after_s=...)`` so the worker sends the notice again after it
    (worker.notices); a refusal (the requester left the channel, the channel is gone) or an outage goes
    to the DM instead."""
    post = SlackPost(text=f":warning: {reason}", blocks=[])
    url = job.destination.get("response_url")
    if url and _via_response_url(url, post) is not Sent.REFUSED:
        return
    client = web_client(settings)
    try:
        _ephemeral(client, job, post)
    except TransientDeliveryError as exc:
        if exc.retry_after_s is not None:
            raise
        log.warning("request %s: failure notice not posted in the channel (%s); sending a DM", job.request_id, exc)
        _notice_by_dm(client, job, post)
    except SlackDeliveryError as exc:
        log.warning("request %s: failure notice refused in the channel (%s); sending a DM", job.request_id, exc)
        _notice_by_dm(client, job, post)
