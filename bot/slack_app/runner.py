"""`recap slack`: run the Bolt app in Socket Mode (default, no public URL) or HTTP mode (/slack/events).

HTTP mode serves the app with uvicorn (bot.slack_app.server), with GET /health beside it.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from config.settings import ConfigError

log = logging.getLogger("recap.slack")

EVENTS_PATH = "/slack/events"  # bot.slack_app.server serves it


def check_settings(settings: Any) -> None:
    """Fail at start-up, naming the variable, rather than at the first request."""
    if settings.slack_bot_token is None:
        raise ConfigError("RECAP_SLACK_BOT_TOKEN is not set: the xoxb- Bot User OAuth Token of the app.")
    if settings.slack_mode == "socket" and settings.slack_app_token is None:
        raise ConfigError(
            "RECAP_SLACK_APP_TOKEN is not set: an xapp- app-level token with connections:write "
            "(Socket Mode). Or set RECAP_SLACK_MODE=http."
        )
    if settings.slack_mode == "http" and settings.slack_signing_secret is None:
        raise ConfigError("RECAP_SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request with it.")


def run(settings: Any) -> None:
    """Start the app and block until interrupted."""
    from bot.slack_app.app import build_app

    check_settings(settings)
    app = build_app(settings)
    if settings.slack_mode == "http":
        from bot.queue import redis_connection
        from bot.slack_app.server import serve

        log.info("Slack app listening on %s:%s at %s", settings.slack_host, settings.slack_port, EVENTS_PATH)
        serve(app, settings, health=redis_connection(settings).ping)
        return
    from bot.slack_app.socket import CheckedSocketModeHandler

    log.info("Slack app connecting in Socket Mode")
    CheckedSocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()


def slack(
    mode: Annotated[str | None, typer.Option(help="socket (default) or http (RECAP_SLACK_MODE)")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP mode port; overrides RECAP_SLACK_PORT.")] = None,
) -> None:
    """Run the Slack bot (Socket Mode by default; HTTP mode serves /slack/events)."""
    from config.logging import setup_logging
    from config.settings import active_settings, load_settings, set_active_settings

    updates: dict[str, Any] = {}
    if mode is not None:
        updates["slack_mode"] = mode
    if port is not None:
        updates["slack_port"] = port
    settings = active_settings()
    if updates:
        settings = load_settings(**{**settings.model_dump(), **updates})
    set_active_settings(settings)
    setup_logging(settings.log_level)
    try:
        run(settings)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


app = typer.Typer(help="The Slack bot.", invoke_without_command=True)
app.callback(invoke_without_command=True)(slack)
