"""The worker's one way to call Discord's REST API (summaries, failure notices, digests).

Rate limits follow https://discord.com/developers/docs/topics/rate-limits: a 429 carries the wait in
its JSON body (``retry_after``, seconds as a float, and ``global``) and in the ``Retry-After``,
``X-RateLimit-Reset-After``, ``X-RateLimit-Scope`` (``user``, ``global``, ``shared``) and
``X-RateLimit-Global`` headers; a Cloudflare-level 429 may carry only ``Retry-After``. Every answer's
``X-RateLimit-Remaining: 0`` says the route's bucket is spent until ``X-RateLimit-Reset-After``, so
the next call on that route waits instead of earning a 429. A short wait is waited out inline; a
longer one raises `DiscordRateLimited` (a `TransientDeliveryError` with ``retry_after_s``), so the
worker reschedules the job for when the limit ends instead of retrying at fixed intervals.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import requests

from bot.delivery import TransientDeliveryError
from bot.discord_app.rest import api_base

log = logging.getLogger("recap.discord.api")

SHORT_WAIT_S = 5.0  # wait this long inline; longer limits go back to the queue
UNKNOWN_WAIT_S = 10.0  # a 429 that names no wait at all
ATTEMPTS = 3
GLOBAL = "*"


@dataclass(frozen=True)
class RateLimit:
    wait_s: float
    scope: str  # "user", "global" or "shared" (a per-resource limit other bots share)
    is_global: bool


class DiscordRateLimited(TransientDeliveryError):
    def __init__(self, limit: RateLimit, route: str) -> None:
        kind = "global" if limit.is_global else limit.scope
        super().__init__(f"Discord rate limit ({kind}) on {route}: retry after {limit.wait_s:.0f} s", limit.wait_s)
        self.limit = limit


class DiscordRefused(RuntimeError):
    """A 4xx other than 429: retrying will not help (expired token, missing permission, DMs closed)."""

    def __init__(self, status: int, code: int) -> None:
        super().__init__(f"Discord refused the request: HTTP {status}, code {code}")
        self.status, self.code = status, code


def _seconds(value: Any) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None


def rate_limit_of(response: requests.Response) -> RateLimit:
    """The longest wait any part of a 429 names (body, Retry-After, Reset-After)."""
    body, headers = _json(response), response.headers
    waits = [_seconds(body.get("retry_after")), _seconds(headers.get("Retry-After")),
             _seconds(headers.get("X-RateLimit-Reset-After"))]
    found = [wait for wait in waits if wait is not None]
    scope = (headers.get("X-RateLimit-Scope") or "user").lower()
    is_global = bool(body.get("global")) or headers.get("X-RateLimit-Global", "").lower() == "true"
    return RateLimit(max(found) if found else UNKNOWN_WAIT_S, scope, is_global or scope == "global")


def route_key(method: str, path: str) -> str:
    """Which limit a request counts against: its route, message ids generalized; safe to log.

    An interaction token in a webhook path is a credential (it can post as the app for 15 minutes), so it is
    replaced; one client serves one job, so the route still names one interaction.
    """
    path = re.sub(r"^/webhooks/(\d+)/[^/?]+", r"/webhooks/\1/{token}", path.split("?")[0])
    return f"{method} " + re.sub(r"/messages/\d+", "/messages/{id}", path)


class DiscordApi:
    """A tiny synchronous REST client on the configured base URL; errors map to transient or permanent ones."""

    def __init__(self, settings: Any) -> None:
        self.base = api_base(settings)
        token = settings.discord_token.get_secret_value() if settings.discord_token else ""
        self.auth = {"Authorization": f"Bot {token}"}
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": "DiscordBot (recap, 0.1)"})
        self.blocked_until: dict[str, float] = {}  # route key (or GLOBAL) -> when its limit ends

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True) -> Any:
        # Webhook (follow-up) calls are authorized by the token in their path, not the bot token.
        route = route_key(method, path)
        for _attempt in range(ATTEMPTS):
            self._wait_for(route)
            response = self._send(method, path, body, auth)
            self._remember(route, response)
            if response.status_code != 429:
                return _result(response)
            limit = rate_limit_of(response)
            log.info("%s: rate limited (%s) for %.1f s", route, limit.scope, limit.wait_s)
            if limit.wait_s > SHORT_WAIT_S:
                raise DiscordRateLimited(limit, route)
        raise DiscordRateLimited(RateLimit(SHORT_WAIT_S, "user", False), route)

    def get(self, path: str) -> Any:
        """A bot-authorized GET; the answer may be a JSON list (history, roles, channels)."""
        return self.call("GET", path)

    def _send(self, method: str, path: str, body: dict[str, Any] | None, auth: bool) -> requests.Response:
        try:
            return self.session.request(
                method, self.base + path, json=body, headers=self.auth if auth else None, timeout=15
            )
        except requests.RequestException as exc:  # maybe applied: callers verify before repeating a post
            # Not chained: the library's message holds the URL, and a webhook URL holds the interaction token.
            raise TransientDeliveryError(f"Discord unreachable ({type(exc).__name__})") from None

    def _wait_for(self, route: str) -> None:
        until = max(self.blocked_until.get(route, 0.0), self.blocked_until.get(GLOBAL, 0.0))
        wait = until - time.time()
        if wait > SHORT_WAIT_S:
            raise DiscordRateLimited(RateLimit(wait, "user", until == self.blocked_until.get(GLOBAL)), route)
        if wait > 0:
            time.sleep(wait)

    def _remember(self, route: str, response: requests.Response) -> None:
        """Note when a spent bucket (or a 429's limit) ends, so the next call on it waits first."""
        if response.status_code == 429:
            limit = rate_limit_of(response)
            self.blocked_until[GLOBAL if limit.is_global else route] = time.time() + limit.wait_s
        elif response.headers.get("X-RateLimit-Remaining") == "0":
            reset = _seconds(response.headers.get("X-RateLimit-Reset-After"))
            if reset:
                self.blocked_until[route] = time.time() + reset


def _result(response: requests.Response) -> Any:
    if response.status_code >= 500:
        raise TransientDeliveryError(f"Discord answered HTTP {response.status_code}")
    if response.status_code >= 400:
        raise DiscordRefused(response.status_code, int(_json(response).get("code", 0) or 0))
    return _decoded(response) if response.content else None


def _decoded(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _json(response: requests.Response) -> dict[str, Any]:
    data = _decoded(response)
    return data if isinstance(data, dict) else {}
