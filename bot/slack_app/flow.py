"""One summary request, after the ack: dedupe, rate limit, collect, convert, enqueue.

Called from the lazy listeners of the command, the thread shortcut and the mention, so all three
behave the same. Every outcome reaches the requester as a short private note; no message text
is logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.dialogue import EmptyConversationError, format_dialogue
from bot.queue import BUSY_MESSAGE, QueueBusyError, QueueUnavailableError, SummaryJob, enqueue_summary
from bot.ratelimit import check_rate_limit, claim_once, extend_claim, release_claim
from bot.slack_app.collect import Collected, NotInChannelError, UserDirectory, read_thread, read_window
from bot.slack_app.collect_limits import HistoryLimits, WaitingNote, collection_client
from bot.slack_app.convert import to_messages
from bot.store import Store, store_for

log = logging.getLogger("recap.slack.flow")

# How long a claim holds while its request is being read and queued. Only once the job is queued (or
# the requester got a final answer) does it get the request's long claim_ttl_s: if the process dies in
# between, Slack's retry of the event is processed after this instead of being ignored for a day.
PROCESSING_TTL_S = 60
COLLECTION_THREADS = 16  # collections waiting on Slack's rate limits sleep here, never on Bolt's ack threads

Notify = Callable[[str], None]

REDIS_DOWN = (
    ":warning: Recap cannot reach its job queue right now, so your summary was not started. "
    "Please try again in a few minutes; if it keeps happening, tell the operator."
)
NOT_IN_CHANNEL = (
    "I can't read this conversation yet. Add me first: type `/invite @Recap` in the channel "
    "(for a private channel, an existing member has to invite me), then try again."
)
SLACK_ERROR = ":warning: Slack did not let me read the messages just now. Please try again in a minute."
UNEXPECTED = ":warning: Something went wrong while preparing your summary. Please try again."
MALFORMED = ":warning: Slack sent an incomplete request, so I cannot tell what to summarize. Please try again."
THREAD_GONE = "I can't find that thread any more; it may have been deleted."
CAPPED_CHANNEL = (
    " This range has more messages than I read at once ({limit}), so the summary covers only the "
    "most recent ones. Pick a shorter range (`/summarize 2h`) to cover the rest."
)
CAPPED_THREAD = " This thread is longer than I read at once ({limit}), so the summary covers only its start."


class MalformedRequest(ValueError):
    """The payload lacks what a summary request needs (channel, user, request id, thread)."""


@dataclass(frozen=True)
class SummaryRequest:
    request_id: str  # the job id derives from it: one request, one job
    claim_key: str  # what a retry or double click repeats
    team: str
    channel: str
    user: str
    thread_ts: str | None = None  # summarize this whole thread
    oldest: float | None = None  # or the channel since then
    limit: int = 500  # messages in all, thread replies included
    count: int | None = None  # `/summarize 100`: the last 100 top-level messages
    public: bool = False
    needs_thread: bool = False  # the shortcut and the mention: never fall back to the whole channel
    claim_ttl_s: int = 86400
    destination: dict[str, Any] = field(default_factory=dict)


def _collector() -> Executor:
    return ThreadPoolExecutor(COLLECTION_THREADS, "recap-slack-collect")


@dataclass
class Deps:
    """What the listeners share: settings, one Redis client (a thread-safe pool), the name cache, the
    executor collections run on, and the event that ends their rate-limit waits at shutdown."""

    settings: Any
    connection: Redis
    users: UserDirectory = field(default_factory=UserDirectory)
    collector: Executor = field(default_factory=_collector)
    stopping: threading.Event = field(default_factory=threading.Event)
    limits: HistoryLimits = field(default_factory=HistoryLimits)

    def store(self) -> Store:
        """Opened on first use, so the app starts (and acks) even while the database is slow."""
        return store_for(self.settings)


def responder(respond: Respond) -> Notify:
    """Private notes through the request's response_url."""

    def notify(message: str) -> None:
        respond(text=message, response_type="ephemeral", replace_original=False)

    return notify


def ephemeral(client: WebClient, channel: str, user: str, thread_ts: str | None = None) -> Notify:
    """Private notes with chat.postEphemeral (events have no response_url)."""

    def notify(message: str) -> None:
        params: dict[str, Any] = {"channel": channel, "user": user, "text": message}
        if thread_ts:
            params["thread_ts"] = thread_ts
        client.chat_postEphemeral(**params)

    return notify


def _collect(request: SummaryRequest, client: WebClient) -> Collected:
    if request.thread_ts:
        return read_thread(client, request.channel, request.thread_ts, request.limit)
    # With a time window, replies in it to older threads come too (after their parent, for context).
    return read_window(
        client, request.channel, oldest=request.oldest, limit=request.limit, count=request.count
    )


def check_request(request: SummaryRequest) -> SummaryRequest:
    """Refuse payloads missing an id: a missing trigger_id or event_id would make every such
    request share one claim (all but the first silently dropped)."""
    incomplete = not (request.team and request.channel and request.user)
    if incomplete or request.request_id.endswith(":None") or (request.needs_thread and not request.thread_ts):
        raise MalformedRequest(request.request_id)
    return request


def _job(request: SummaryRequest, client: WebClient, waiting: WaitingNote, deps: Deps) -> tuple[SummaryJob, str]:
    """The job, and what to add to the "Summarizing…" note when the cap left messages out."""

    def limited(seconds: float) -> None:
        waiting(seconds)
        deps.limits.limited(request.team, seconds)

    client = collection_client(client, limited, deps.stopping)
    raw = _collect(request, client)
    messages = to_messages(raw, deps.users.names_for(client, raw))
    dialogue = format_dialogue(messages)
    job = SummaryJob(
        request_id=request.request_id, platform="slack", dialogue=dialogue.text, speakers=dialogue.speakers,
        workspace=request.team, channel=request.channel, thread=request.thread_ts, requester=request.user,
        message_count=dialogue.message_count, public=request.public, destination=request.destination,
    )
    capped = CAPPED_THREAD if request.thread_ts else CAPPED_CHANNEL
    note = capped.format(limit=request.limit) if raw.truncated else ""
    return job, note


def _gate(request: SummaryRequest, notify: Notify, deps: Deps) -> bool:
    """Claim the request and check the rate limit; False when it must not go on."""
    if not claim_once(deps.connection, request.claim_key, min(PROCESSING_TTL_S, request.claim_ttl_s)):
        log.info("request %s is a repeat; ignored", request.request_id)
        return False
    decision = check_rate_limit(deps.connection, f"slack:{request.team}:{request.user}", deps.settings)
    if not decision.allowed:
        log.info("request %s rate limited for %ss", request.request_id, decision.retry_after_s)
        extend_claim(deps.connection, request.claim_key, request.claim_ttl_s)  # answered: a retry is a repeat
        _safe_notify(notify, decision.message())
        return False
    return True


def start_summary(request: SummaryRequest, client: WebClient, notify: Notify, deps: Deps) -> None:
    """Hand the request to the collection executor and return: the lazy listener's Bolt thread is free
    at once, however long Slack makes the reading wait."""
    waiting = WaitingNote(notify)

    def collect() -> None:
        deps.limits.started(request.team, waiting)
        run_summary(request, client, notify, deps, waiting)

    deps.limits.queued(request.team, waiting)  # told at once while the workspace is rate limited
    try:
        deps.collector.submit(collect)
    except RuntimeError:  # the executor is shutting down
        deps.limits.started(request.team, waiting)
        log.warning("request %s arrived during shutdown; Slack's retry will bring it back", request.request_id)


def run_summary(
    request: SummaryRequest, client: WebClient, notify: Notify, deps: Deps, waiting: WaitingNote | None = None
) -> None:
    """Never raises: the requester always hears what happened."""
    claimed = False
    release = True  # release the claim unless the requester got a final answer
    try:
        if not _gate(check_request(request), notify, deps):
            return
        claimed = True
        job, capped = _job(request, client, waiting or WaitingNote(notify), deps)
        enqueued = enqueue_summary(job, deps.settings, deps.connection)
    except QueueBusyError:
        log.info("request %s: queue full, refused", request.request_id)
        message = BUSY_MESSAGE
    except QueueUnavailableError:
        log.warning("request %s: Redis unavailable", request.request_id)
        message = REDIS_DOWN
    except NotInChannelError as exc:
        log.info("request %s: cannot read %s (%s)", request.request_id, request.channel, exc)
        message, release = NOT_IN_CHANNEL, False
    except EmptyConversationError as exc:
        message, release = str(exc), False
    except MalformedRequest:
        log.warning("request %s: incomplete payload", request.request_id)
        message = MALFORMED
    except SlackApiError as exc:
        log.warning("request %s: Slack API error %s", request.request_id, exc.response.get("error"))
        gone = exc.response.get("error") == "thread_not_found"
        message, release = (THREAD_GONE, False) if gone else (SLACK_ERROR, release)
    except Exception:  # noqa: BLE001 - a listener must never crash the app
        log.exception("request %s failed before it was queued", request.request_id)
        message = UNEXPECTED
    else:
        extend_claim(deps.connection, request.claim_key, request.claim_ttl_s)
        log.info("request %s: job %s, %d messages, new=%s", request.request_id, enqueued.job_id,
                 job.message_count, enqueued.created)
        if enqueued.created:
            _safe_notify(notify, f"Summarizing {job.message_count} messages… "
                                 "I'll post the summary here when it's ready." + capped)
        return
    if claimed and release:  # not queued: a platform retry must still be processed
        release_claim(deps.connection, request.claim_key)
    elif claimed:  # a final answer (not in channel, nothing to summarize): a retry is a repeat
        extend_claim(deps.connection, request.claim_key, request.claim_ttl_s)
    _safe_notify(notify, message)


def _safe_notify(notify: Notify, message: str) -> None:
    try:
        notify(message)
    except Exception:  # noqa: BLE001 - nothing else can be done; keep the app alive
        log.exception("could not notify the requester")
