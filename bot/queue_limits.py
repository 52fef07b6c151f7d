"""What a summary job may hold, and how many may wait: checked at enqueue, so a refusal comes at once.

- Input: a dialogue with no words is not a summary; one job's input is bounded by messages and by tokens
  (estimated from words and punctuation, so the bot needs no tokenizer), so one paste cannot hold a worker
  for minutes. Within the bounds, the worker map-reduces input longer than the model's window.
- Backlog: RECAP_MAX_QUEUED waiting jobs in total (the queue's length) and RECAP_MAX_QUEUED_PER_WORKSPACE per
  workspace. The per-workspace count is a sorted set of job ids by enqueue time: O(1) at enqueue, the
  worker removes a job when it starts, and entries older than the queued TTL drop out on their own.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from redis import Redis
from rq import Queue

from bot.dialogue import ConversationFormatError, EmptyConversationError
from bot.queue import QueueBusyError, SummaryJob

log = logging.getLogger("recap.queue")

SPEAKER_TAG = re.compile(r"#Person\d+#:?")
WORD = re.compile(r"\w", re.UNICODE)
PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Subword tokenizers split long words: one token per this many characters of a word, at least one.
CHARS_PER_TOKEN = 6
WAITING = {"queued", "deferred", "scheduled"}
RECOUNT_EVERY_S = 5


class InputTooLongError(ConversationFormatError):
    """One job's input is past RECAP_MAX_JOB_MESSAGES or RECAP_MAX_JOB_TOKENS; the message names the limit."""


def has_words(dialogue: str) -> bool:
    """False for empty, whitespace-only, control-character-only or tag-only dialogues."""
    return WORD.search(SPEAKER_TAG.sub(" ", dialogue)) is not None


def estimate_tokens(text: str) -> int:
    """Roughly what a T5 tokenizer makes of ``text``: words (long ones count more) and punctuation."""
    return sum(1 + (len(piece) - 1) // CHARS_PER_TOKEN for piece in PIECE.findall(text))


def check_input(job: SummaryJob, settings: Any) -> None:
    if not has_words(job.dialogue):
        raise EmptyConversationError("There is nothing to summarize: the conversation has no words in it.")
    max_messages = getattr(settings, "max_job_messages", None) or settings.max_messages
    if job.message_count > max_messages:
        raise InputTooLongError(
            f"This conversation has {job.message_count} messages; one summary covers at most {max_messages} "
            "(RECAP_MAX_JOB_MESSAGES). Pick a shorter range.")
    max_tokens = getattr(settings, "max_job_tokens", 12000)
    tokens = estimate_tokens(job.dialogue)
    if tokens > max_tokens:
        raise InputTooLongError(
            f"This conversation is too long to summarize at once: about {tokens} tokens, and one summary takes at "
            f"most {max_tokens} (RECAP_MAX_JOB_TOKENS). Pick a shorter range.")


def queued_ttl_s(settings: Any) -> int:
    """How long a queued job may wait: longer than the longest backlog the bound allows (every waiting job
    running to its timeout on one worker), unless RECAP_QUEUED_TTL_S says otherwise."""
    explicit = getattr(settings, "queued_ttl_s", None)
    return int(explicit or (settings.max_queued + 1) * settings.job_timeout_s)


def check_total(queue: Queue, settings: Any) -> None:
    waiting = queue.count
    if waiting >= settings.max_queued:
        log.warning("queue busy: %d jobs waiting (RECAP_MAX_QUEUED=%d)", waiting, settings.max_queued)
        raise QueueBusyError()


def workspace_key(job: SummaryJob) -> str:
    return f"recap:waiting:{job.platform}:{job.workspace or '-'}"


def workspace_bound(settings: Any) -> int:
    return min(getattr(settings, "max_queued_per_workspace", settings.max_queued), settings.max_queued)


def reserve_workspace_slot(connection: Redis, job: SummaryJob, settings: Any) -> bool:
    """Count the job against its workspace; QueueBusyError past the bound. True if this call added it."""
    key, now, ttl = workspace_key(job), time.time(), queued_ttl_s(settings)
    with connection.pipeline() as pipe:
        pipe.zremrangebyscore(key, "-inf", now - ttl)
        pipe.zadd(key, {job.job_id: now}, nx=True)
        pipe.zcard(key)
        pipe.expire(key, ttl)
        _, added, count, _ = pipe.execute()
    bound = workspace_bound(settings)
    if not added or count <= bound:
        return bool(added)
    if _recount(connection, key, job.job_id) > bound:
        connection.zrem(key, job.job_id)
        log.warning("queue busy for workspace %s:%s: %d waiting (RECAP_MAX_QUEUED_PER_WORKSPACE=%d)",
                    job.platform, job.workspace or "-", count - 1, bound)
        raise QueueBusyError()
    return True


def _recount(connection: Redis, key: str, own_id: str) -> int:
    """Drop entries whose job no longer waits (lost, deleted, run by an old worker); at most every few s."""
    if connection.set(f"{key}:recounted", "1", nx=True, ex=RECOUNT_EVERY_S):
        others = [member.decode() for member in connection.zrange(key, 0, -1) if member.decode() != own_id]
        with connection.pipeline(transaction=False) as pipe:
            for job_id in others:
                pipe.hget(f"rq:job:{job_id}", "status")
            statuses = pipe.execute()
        gone = [job_id for job_id, status in zip(others, statuses, strict=True)
                if status is None or status.decode() not in WAITING]
        if gone:
            connection.zrem(key, *gone)
    return int(connection.zcard(key))


def release_workspace_slot(connection: Redis, job: SummaryJob) -> None:
    """The job no longer waits (the worker started it, or it was never queued)."""
    connection.zrem(workspace_key(job), job.job_id)
