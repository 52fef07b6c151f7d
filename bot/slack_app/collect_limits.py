"""Reading history under Slack's rate limits, off the threads that acknowledge requests.

conversations.history and conversations.replies are Tier 3 (about 50 calls a minute per workspace;
https://api.slack.com/methods/conversations.history); past that Slack answers 429 with ``Retry-After``.
Each collection gets its own WebClient whose rate-limit handler tells the requester once that reading
is waiting, then waits Slack's time on an Event (so shutting down ends the wait), and gives up after
``MAX_WAIT_S`` in all. Collections run on their own executor (``Deps.collector``), never on Bolt's
listener threads, so a storm of 429s cannot delay an ack. A limit is per workspace, so once one
collection meets it, every request of that workspace still waiting for a collection thread (or
arriving while the limit lasts) is told at once too, instead of hearing nothing until its turn.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.slack_app.webapi import retry_after_s

log = logging.getLogger("recap.slack.collect")

MAX_WAIT_S = 300.0  # waiting longer than this for history is worse than asking the person to retry
COLLECTION_WAITING = (
    "Slack is limiting how fast I can read this conversation, so collecting the messages is paused "
    "for about {seconds} s. Your summary is still coming; no need to ask again."
)


class WaitingNote:
    """Tells one requester, at most once, that collecting their messages waits on a rate limit."""

    def __init__(self, notify: Callable[[str], None]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self.sent = False

    def __call__(self, seconds: float) -> None:
        with self._lock:
            if self.sent:
                return
            self.sent = True
        try:
            self._notify(waiting_note(seconds))
        except Exception:  # noqa: BLE001 - a note that cannot be sent must not stop the collection
            log.warning("could not tell a requester that collection is waiting")


class HistoryLimits:
    """The history rate limit each workspace is under, and the requests waiting for a collection
    thread, so a limit met by one collection is announced to all of them."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._pending: dict[str, set[WaitingNote]] = {}
        self._lock = threading.Lock()

    def remaining_s(self, team: str) -> float:
        with self._lock:
            return max(0.0, self._until.get(team, 0.0) - time.monotonic())

    def queued(self, team: str, note: WaitingNote) -> None:
        with self._lock:
            self._pending.setdefault(team, set()).add(note)
        if (left := self.remaining_s(team)) > 0:
            note(left)

    def started(self, team: str, note: WaitingNote) -> None:
        with self._lock:
            self._pending.get(team, set()).discard(note)

    def limited(self, team: str, seconds: float) -> None:
        with self._lock:
            self._until[team] = max(self._until.get(team, 0.0), time.monotonic() + seconds)
            waiting = list(self._pending.get(team, ()))
        for note in waiting:
            note(seconds)


class WaitingRateLimitHandler(RetryHandler):
    """slack_sdk's 429 retry, reporting each wait first (the requester's note goes out once) and
    sleeping interruptibly. One per collection: it counts that collection's waiting."""

    def __init__(self, on_wait: Callable[[float], None], stopping: threading.Event) -> None:
        super().__init__(max_retry_count=1000)
        self.on_wait, self.stopping = on_wait, stopping
        self.waited_s = 0.0

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        limited = response is not None and response.status_code == 429
        return limited and not self.stopping.is_set() and self.waited_s < MAX_WAIT_S

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        wait = retry_after_s(response.headers if response is not None else None)
        wait = (1.0 if wait is None else wait) + random.random() / 4  # spread a burst's retries a little
        log.info("history read rate limited: waiting %.1f s", wait)
        self.on_wait(wait)
        self.waited_s += wait
        self.stopping.wait(wait)
        state.next_attempt_requested = True
        state.increment_current_attempt()


def collection_client(client: WebClient, on_wait: Callable[[float], None], stopping: threading.Event) -> WebClient:
    """A client like Bolt's per-request ``client`` (token, base URL), with the waiting 429 handler."""
    handlers: list[Any] = [ConnectionErrorRetryHandler(max_retry_count=1), WaitingRateLimitHandler(on_wait, stopping)]
    return WebClient(token=client.token, base_url=client.base_url, timeout=client.timeout, retry_handlers=handlers)


def waiting_note(seconds: float) -> str:
    return COLLECTION_WAITING.format(seconds=max(1, round(seconds)))
