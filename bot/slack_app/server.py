"""HTTP mode on a production server: the Bolt app behind Starlette, served by uvicorn.

Bolt's built-in ``app.start()`` is a development server that handles one connection at a time (one
idle keep-alive connection held the next request past Slack's 3 s). Here uvicorn's event loop takes
every connection, each request is checked (``bot.slack_app.bodies``) and then dispatched to the sync
Bolt app on a thread of its own pool (up to ``DISPATCH_THREADS`` at once), so slow requests never
queue fast ones. Bolt's ``slack_bolt.adapter.starlette`` handler would call the sync ``dispatch`` on
the event loop itself, serializing everything, so only its response conversion is used.

``GET /health`` answers beside ``POST /slack/events``: 200 with Redis reachable, 503 otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from redis.exceptions import RedisError
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.slack_app.bodies import BadRequest, validated_request

log = logging.getLogger("recap.slack.http")

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/health"
DISPATCH_THREADS = 64  # each dispatch returns at the ack; this bounds requests being acked at once


def asgi_app(bolt: App, signing_secret: str, health: Any = None) -> Starlette:
    """``health`` is a callable raising when a dependency (Redis) is down; None: always healthy."""
    limiter = anyio.CapacityLimiter(DISPATCH_THREADS)

    async def events(request: Request) -> Response:
        raw = await request.body()
        try:
            bolt_request = validated_request(raw, request.headers, request.url.query, signing_secret)
        except BadRequest as refused:
            log.info("refused a Slack request: %s", refused.reason)
            return PlainTextResponse(refused.reason, status_code=refused.status)
        response = await anyio.to_thread.run_sync(bolt.dispatch, bolt_request, limiter=limiter)
        return to_starlette_response(response)

    async def healthcheck(request: Request) -> Response:
        try:
            if health is not None:
                await anyio.to_thread.run_sync(health)
        except (RedisError, OSError) as exc:
            return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "mode": "http"})

    return Starlette(routes=[Route(EVENTS_PATH, events, methods=["POST"]),
                             Route(HEALTH_PATH, healthcheck, methods=["GET"])])


def serve(bolt: App, settings: Any, health: Any = None) -> None:
    """Block serving HTTP mode on ``settings.slack_port`` (all interfaces) until interrupted."""
    import uvicorn

    secret = settings.slack_signing_secret.get_secret_value()
    config = uvicorn.Config(
        asgi_app(bolt, secret, health), host=settings.slack_host, port=settings.slack_port,
        log_level="warning", access_log=False, timeout_keep_alive=5, lifespan="off",
    )
    uvicorn.Server(config).run()
