"""Slack test helpers: the real Bolt App, requests signed like Slack's, a local fake Web API,
the real Redis and an inline RQ worker with the tiny T5."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from fakes.slack_api import TEAM_ID, FakeSlackAPI
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.queue import summary_queue
from bot.slack_app.app import build_app
from config.settings import Settings

SIGNING_SECRET = "secret"  # what the shared `settings` fixture sets
CHANNEL = "C1"
NOW = time.time()
THREAD_TS = f"{NOW - 3000:.6f}"


class TrackingExecutor(ThreadPoolExecutor):
    """Bolt's listener executor, remembering every task so tests can wait for lazy listeners."""

    def __init__(self, max_workers: int = 8, partner: TrackingExecutor | None = None) -> None:
        super().__init__(max_workers=max_workers)
        self.futures: list[Future[Any]] = []
        self._lock = threading.Lock()
        self.partner = partner  # the collection executor: drained (and shut down) with this one

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._lock:
            self.futures.append(future)
        return future

    def pending(self) -> list[Future[Any]]:
        with self._lock:
            mine = [f for f in self.futures if not f.done()]
        return mine + (self.partner.pending() if self.partner else [])

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        if self.partner:
            self.partner.shutdown(wait=wait, cancel_futures=cancel_futures)

    def drain(self, timeout: float = 30) -> None:
        """Wait until every submitted task (including ones submitted meanwhile, in the partner too)
        has finished."""
        deadline = time.monotonic() + timeout
        while True:
            pending = self.pending()
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("lazy listeners did not finish")
            pending[0].result(timeout=max(0.01, deadline - time.monotonic()))


def seed_workspace(fake: FakeSlackAPI) -> None:
    """A channel with five pages of history at page size 2, a thread, and the noise Slack sends."""
    fake.add_user("U1", "Alice")
    fake.add_user("U2", "Bob")
    fake.add_user("U3", "Carol")
    add = fake.add_message
    add(CHANNEL, "U1", "Shall we ship the release on Friday?", NOW - 3600)
    add(CHANNEL, "U2", "Friday works, the tests are green.", NOW - 3500)
    add(CHANNEL, None, "Deploy bot: build 42 passed", NOW - 3400, subtype="bot_message", bot_id="B9")
    add(CHANNEL, "U3", "<@U3> has joined the channel", NOW - 3300, subtype="channel_join")
    add(CHANNEL, "U3", "I will write the release notes tonight.", NOW - 3200, edited={"user": "U3"})
    add(CHANNEL, "U2", "Here is the changelog draft", NOW - 3100, files=[{"id": "F1", "name": "changes.pdf"}])
    add(CHANNEL, "U1", "Can someone review the migration?", float(THREAD_TS), thread_ts=THREAD_TS,
        reply_count=2)
    add(CHANNEL, "U2", "I can review it after lunch.", NOW - 2900, thread_ts=THREAD_TS)
    add(CHANNEL, "U3", "I left two comments on the index change.", NOW - 2800, thread_ts=THREAD_TS)
    add(CHANNEL, None, "This message was deleted.", NOW - 2700, subtype="tombstone", hidden=True)


class SlackHarness:
    def __init__(self, app: App, fake: FakeSlackAPI, settings: Settings, redis: Redis,
                 executor: TrackingExecutor) -> None:
        self.app, self.fake, self.settings, self.redis, self.executor = app, fake, settings, redis, executor
        self.verifier = SignatureVerifier(SIGNING_SECRET)
        self.stopping = threading.Event()  # set: collections stop waiting on Slack's rate limits
        self._counter = 0

    # Signed requests, dispatched the way Bolt's scenario tests do

    def headers(self, body: str, content_type: str, *, timestamp: str | None = None,
                signature: str | None = None, extra: dict[str, str] | None = None) -> dict[str, list[str]]:
        timestamp = timestamp or str(int(time.time()))
        signature = signature or self.verifier.generate_signature(timestamp=timestamp, body=body)
        headers = {"content-type": [content_type], "x-slack-signature": [signature],
                   "x-slack-request-timestamp": [timestamp]}
        for key, value in (extra or {}).items():
            headers[key.lower()] = [value]
        return headers

    def dispatch(self, body: str, content_type: str, **kwargs: Any) -> tuple[BoltResponse, float]:
        headers = kwargs.pop("headers", None) or self.headers(body, content_type, **kwargs)
        started = time.perf_counter()
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        return response, time.perf_counter() - started

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def command_body(self, text: str = "", user: str = "U1", channel: str = CHANNEL,
                     response_url: str | None = None) -> str:
        return urlencode({
            "token": "legacy", "team_id": TEAM_ID, "team_domain": "acme", "channel_id": channel,
            "channel_name": "general", "user_id": user, "user_name": "alice", "command": "/summarize",
            "text": text, "api_app_id": "A1", "trigger_id": self.next_id("trigger-"),
            "response_url": response_url or self.fake.response_url(self.next_id("cmd")),
        })

    def command(self, text: str = "", **kwargs: Any) -> tuple[BoltResponse, float]:
        return self.dispatch(self.command_body(text, **kwargs), "application/x-www-form-urlencoded")

    def interactive(self, payload: dict[str, Any], **kwargs: Any) -> tuple[BoltResponse, float]:
        body = urlencode({"payload": json.dumps(payload)})
        return self.dispatch(body, "application/x-www-form-urlencoded", **kwargs)

    def shortcut(self, message_ts: str, thread_ts: str | None = THREAD_TS, user: str = "U1",
                 **kwargs: Any) -> tuple[BoltResponse, float]:
        message = {"type": "message", "user": "U2", "ts": message_ts, "text": "…"}
        if thread_ts:
            message["thread_ts"] = thread_ts
        return self.interactive({
            "type": "message_action", "callback_id": "recap_summarize_thread",
            "trigger_id": self.next_id("trig-"),
            "team": {"id": TEAM_ID, "domain": "acme"}, "channel": {"id": CHANNEL, "name": "general"},
            "user": {"id": user, "team_id": TEAM_ID}, "message_ts": message_ts, "message": message,
            "response_url": self.fake.response_url(self.next_id("sc")), "token": "legacy",
        }, **kwargs)

    def action(self, action_id: str, value: str, user: str = "U1") -> tuple[BoltResponse, float]:
        return self.interactive({
            "type": "block_actions", "trigger_id": self.next_id("act-"), "team": {"id": TEAM_ID},
            "user": {"id": user, "team_id": TEAM_ID}, "channel": {"id": CHANNEL}, "api_app_id": "A1",
            "container": {"type": "message", "channel_id": CHANNEL, "is_ephemeral": True},
            "response_url": self.fake.response_url(self.next_id("act")), "token": "legacy",
            "actions": [{"type": "button", "action_id": action_id, "value": value, "block_id": "b1",
                         "action_ts": str(time.time())}],
        })

    def event(
        self, event: dict[str, Any], event_id: str | None = None, **kwargs: Any
    ) -> tuple[BoltResponse, float]:
        body = json.dumps({
            "token": "legacy", "team_id": TEAM_ID, "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id or self.next_id("Ev"), "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True}],
        })
        return self.dispatch(body, "application/json", **kwargs)

    # The queue and the worker

    def job_ids(self) -> list[str]:
        return sorted(key.decode().removeprefix("rq:job:") for key in self.redis.keys("rq:job:*"))

    def jobs(self) -> list[Any]:
        queue = summary_queue(self.settings, self.redis)
        return [queue.fetch_job(job_id) for job_id in self.job_ids()]

    def run_worker(self) -> None:
        queue = summary_queue(self.settings, self.redis)
        SimpleWorker([queue], connection=self.redis, serializer=JSONSerializer).work(burst=True)


def make_harness(
    settings: Settings, fake: FakeSlackAPI, redis: Redis, app_redis: Redis | None = None,
    listener_threads: int = 8, collection_threads: int = 8,
) -> SlackHarness:
    """The app as ``recap slack`` builds it, with executors the test can drain: Bolt's listener
    threads (acks, lazy listeners) and, separately, the collection threads."""
    executor = TrackingExecutor(listener_threads, partner=TrackingExecutor(collection_threads))
    stopping = threading.Event()
    app = build_app(settings, connection=app_redis or redis, listener_executor=executor,
                    collection_executor=executor.partner, stopping=stopping)
    harness = SlackHarness(app, fake, settings, redis, executor)
    harness.stopping = stopping
    return harness




def summary_posts(fake: FakeSlackAPI) -> list[Any]:
    """Posts that carry a summary (they have the vote buttons), of every kind."""
    return [call for call in fake.posts() if "recap_vote_up" in json.dumps(call.params.get("blocks") or [])]


def posted_text(call: Any) -> str:
    """Everything a post shows: its text and every block's text."""
    shown = {"text": call.params.get("text"), "blocks": call.params.get("blocks")}
    return json.dumps(shown, ensure_ascii=False)
