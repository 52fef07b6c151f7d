"""The worker's Slack deliverer (see worker.delivery): post a finished summary, or a failure notice.

Private summaries go to the requester through the command's ``response_url`` (valid 30 min, 5 uses),
falling back to chat.postEphemeral. Public and thread summaries are posted with chat.postMessage,
in the thread when there is one. 429, 5xx and network errors raise TransientDeliveryError so RQ
retries the job.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.delivery import DeliveredSummary, TransientDeliveryError
from bot.queue import SummaryJob
from bot.slack_app.blocks import SlackPost, summary_posts

log = logging.getLogger("recap.slack.deliver")


class SlackDeliveryError(RuntimeError):
    """Slack refused the post for a reason retrying will not fix (channel gone, bot removed...)."""


def web_client(settings: Any) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=15)


def _call(method: Any, **params: Any) -> Any:
    """Run one Web API call, sorting errors into transient (retry the job) and permanent."""
    try:
        return method(**params)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = exc.response.get("error")
        if status == 429 or status >= 500 or error in ("ratelimited", "service_unavailable", "fatal_error"):
            raise TransientDeliveryError(f"Slack answered {status} {error}") from exc
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


def _private(client: WebClient, job: SummaryJob, posts: list[SlackPost]) -> None:
    url = job.destination.get("response_url")
    remaining = list(posts)
    while url and remaining and _via_response_url(url, remaining[0]):
        remaining.pop(0)
    for post in remaining:
        params: dict[str, Any] = {"channel": job.channel, "user": job.requester, "text": post.text,
                                  "blocks": post.blocks}
        if job.thread:
            params["thread_ts"] = job.thread
        _call(client.chat_postEphemeral, **params)


def _public(client: WebClient, job: SummaryJob, posts: list[SlackPost]) -> str | None:
    reference = None
    for post in posts:
        params: dict[str, Any] = {"channel": job.channel, "text": post.text, "blocks": post.blocks,
                                  "unfurl_links": False, "unfurl_media": False}
        if job.thread:
            params["thread_ts"] = job.thread
        response = _call(client.chat_postMessage, **params)
        reference = reference or f"{response.get('channel') or job.channel}:{response.get('ts')}"
    return reference


def deliver(job: SummaryJob, summary: DeliveredSummary, settings: Any) -> str | None:
    """Post the summary; returns "{channel}:{ts}" for public posts (reactions find it), else None."""
    private = not (job.public or job.thread)
    posts = summary_posts(summary.text, summary.summary_id, summary.message_count, private=private)
    client = web_client(settings)
    if private:
        _private(client, job, posts)
        log.info("summary %s delivered privately in %s", summary.summary_id, job.channel)
        return None
    reference = _public(client, job, posts)
    log.info("summary %s posted in %s", summary.summary_id, job.channel)
    return reference


def notify_failure(job: SummaryJob, reason: str, settings: Any) -> None:
    """Tell the requester, privately, that their summary failed."""
    text = f":warning: {reason}"
    url = job.destination.get("response_url")
    if url and _via_response_url(url, SlackPost(text=text, blocks=[])):
        return
    params: dict[str, Any] = {"channel": job.channel, "user": job.requester, "text": text}
    if job.thread:
        params["thread_ts"] = job.thread
    _call(web_client(settings).chat_postEphemeral, **params)
