"""The worker's one path to Slack's Web API: every call goes through ``call_api``.

Slack answers a rate-limited call with HTTP 429 and a ``Retry-After`` header in seconds
(https://api.slack.com/apis/rate-limits). A 429 means the call was not applied, so repeating it is safe:
a short wait is slept here and the call repeated; a long one becomes
``TransientDeliveryError(retry_after_s=...)``, and the worker reschedules the job for when the limit
ends instead of holding a worker process (or retrying at fixed intervals and losing the summary).
5xx and network errors are transient too, without a wait of Slack's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest

from bot.delivery import TransientDeliveryError

log = logging.getLogger("recap.slack.webapi")

INLINE_WAIT_S = 5.0  # a Retry-After up to this is slept in place; longer ones reschedule the job
INLINE_TRIES = 3  # calls in all, when every answer is a short 429
DEFAULT_RETRY_AFTER_S = 1.0  # a 429 without the header (Slack always sends it; just in case)
_POSTS = ("chat.postMessage", "chat.postEphemeral")
_TRANSIENT_ERRORS = ("ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout")

sleep: Callable[[float], None] = time.sleep


class SlackDeliveryError(RuntimeError):
    """Slack refused the call for a reason retrying will not fix (channel gone, bot removed...)."""


class ReadRetryHandler(ConnectionErrorRetryHandler):
    """slack_sdk's connection-error retry, but never for a post: a reset after Slack accepted it would
    post it twice. A failed post fails the attempt instead, and the job's retry checks for it first."""

    def _can_retry(self, *, request: HttpRequest, **kwargs: Any) -> bool:
        return not request.url.endswith(_POSTS) and super()._can_retry(request=request, **kwargs)


def web_client(settings: Any) -> WebClient:
    """The worker's client: no rate-limit retry handler (``call_api`` decides between waiting and
    rescheduling), and connection retries only for reads."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=15, retry_handlers=[ReadRetryHandler()])


def retry_after_s(headers: Mapping[str, Any] | None) -> float | None:
    """Slack's ``Retry-After`` in seconds, whatever the header's case or value type (str or list)."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(0.0, float(str(raw).strip()))
            except ValueError:
                return None
    return None


def _sorted_error(exc: SlackApiError) -> Exception:
    status = exc.response.status_code
    error = exc.response.get("error")
    if status == 429 or error == "ratelimited":
        wait = retry_after_s(exc.response.headers)
        wait = DEFAULT_RETRY_AFTER_S if wait is None else wait
        return TransientDeliveryError(f"Slack rate limit: retry after {wait:g} s", retry_after_s=wait)
    if status >= 500 or error in _TRANSIENT_ERRORS:
        return TransientDeliveryError(f"Slack answered {status} {error}")
    return SlackDeliveryError(f"Slack refused the call: {error}")


def call_api(method: Any, **params: Any) -> Any:
    """Run one Web API call; short rate limits are waited out here, the rest raise (see module doc)."""
    for attempt in range(1, INLINE_TRIES + 1):
        try:
            return method(**params)
        except SlackApiError as exc:
            error = _sorted_error(exc)
            error.__cause__ = exc
        except OSError as exc:  # URLError, timeouts, refused connections
            raise TransientDeliveryError(f"Slack could not be reached: {type(exc).__name__}") from exc
        wait = getattr(error, "retry_after_s", None)
        if wait is None or wait > INLINE_WAIT_S or attempt == INLINE_TRIES:
            raise error
        log.info("Slack rate limit on %s: waiting %.1f s in place", getattr(method, "__name__", "a call"), wait)
        sleep(wait)
    raise AssertionError("unreachable")
