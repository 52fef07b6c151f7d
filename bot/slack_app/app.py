"""Build the Bolt app: one WebClient with Slack's Retry-After handling, listeners grouped by kind.

process_before_response stays False (Bolt's default): acks go back at once and the slow work runs
in lazy listeners, so every command, shortcut and mention is acknowledged within Slack's 3 s.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from redis import Redis
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.queue import redis_connection
from bot.slack_app import actions, commands, events, shortcuts
from bot.slack_app.flow import Deps

# Acks and lazy listeners share Bolt's executor; slow history reads must never queue an ack
# behind them, so the pool is much larger than Bolt's default of 5.
LISTENER_THREADS = 32


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
    token_verification: bool = True,
) -> App:
    """The Recap Bolt app. ``connection`` and ``listener_executor`` are for tests and embedding."""
    if settings.slack_bot_token is None:
        raise ValueError("RECAP_SLACK_BOT_TOKEN is not set (the xoxb- bot token of your Slack app)")
    app = App(
        client=client or web_client(settings),
        signing_secret=_secret(settings.slack_signing_secret) or "",
        process_before_response=False,
        token_verification_enabled=token_verification,
        listener_executor=listener_executor or ThreadPoolExecutor(LISTENER_THREADS, "recap-slack"),
        raise_error_for_unhandled_request=False,
    )
    deps = Deps(settings=settings, connection=connection or redis_connection(settings))
    for group in (commands, shortcuts, events, actions):
        group.register(app, deps)
    return app
