"""Build the Bolt app: one WebClient with Slack's Retry-After handling, listeners grouped by kind.

process_before_response stays False (Bolt's default): acks go back at once and the slow work runs
in lazy listeners, so every command, shortcut and mention is acknowledged within Slack's 3 s. The
lazy listeners of summary requests only hand the request to ``Deps.collector``, where history reads
may wait out Slack's rate limits without taking a thread an ack needs.

No message text in logs: Bolt logs the whole body of a request whose signature fails (INFO) and of
an unhandled request (WARNING); slack_sdk logs request and response bodies at DEBUG. Bolt gets our
logger, which carries a filter that drops records quoting a body, and the libraries' own loggers
are held at WARNING.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from redis import Redis
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.queue import redis_connection
from bot.slack_app import actions, commands, events, shortcuts
from bot.slack_app.flow import Deps

# Acks and lazy listeners share Bolt's executor (collections have their own), so an ack never waits
# behind another request's work; the pool is larger than Bolt's default of 5 for bursts.
LISTENER_THREADS = 32
BOLT_LOGGER = "recap.slack.bolt"
_QUIET = ("slack_bolt", "slack_sdk")
_BODY_WORDS = ("body", "Unhandled request", "payload")


class NoBodies(logging.Filter):
    """Drops the library records that quote a request body (messages, shortcut payloads)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        return not any(word in text for word in _BODY_WORDS)


def bolt_logger() -> logging.Logger:
    """The logger Bolt uses for the app and every middleware (each copies its level and filters)."""
    logger = logging.getLogger(BOLT_LOGGER)
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, NoBodies) for f in logger.filters):
        logger.addFilter(NoBodies())
    for name in _QUIET:
        quiet = logging.getLogger(name)
        if quiet.level < logging.WARNING:  # NOTSET included
            quiet.setLevel(logging.WARNING)
        if not any(isinstance(f, NoBodies) for f in quiet.filters):
            quiet.addFilter(NoBodies())
    return logger


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def web_client(settings: Any) -> WebClient:
    """The bot's client; Bolt copies its base_url and retry handlers into every per-request client."""
    return WebClient(
        token=_secret(settings.slack_bot_token),
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=3),  # sleeps for Slack's Retry-After
        ],
    )


def build_app(
    settings: Any,
    *,
    connection: Redis | None = None,
    client: WebClient | None = None,
    listener_executor: Executor | None = None,
    collection_executor: Executor | None = None,
    stopping: threading.Event | None = None,
    token_verification: bool = True,
) -> App:
    """The Recap Bolt app. ``connection``, the executors and ``stopping`` (set it to end rate-limit
    waits at shutdown) are for tests and embedding."""
    if settings.slack_bot_token is None:
        raise ValueError("RECAP_SLACK_BOT_TOKEN is not set (the xoxb- bot token of your Slack app)")
    app = App(
        client=client or web_client(settings),
        signing_secret=_secret(settings.slack_signing_secret) or "",
        process_before_response=False,
        token_verification_enabled=token_verification,
        listener_executor=listener_executor or ThreadPoolExecutor(LISTENER_THREADS, "recap-slack"),
        raise_error_for_unhandled_request=False,
        logger=bolt_logger(),
    )
    deps = Deps(settings=settings, connection=connection or redis_connection(settings))
    if collection_executor is not None:
        deps.collector = collection_executor
    if stopping is not None:
        deps.stopping = stopping
    for group in (commands, shortcuts, events, actions):
        group.register(app, deps)
    return app
