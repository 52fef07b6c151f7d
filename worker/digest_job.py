"""The digest RQ job: collect a channel's window, split it into conversations, summarize them all in
one batch, and post one digest.

Exactly once, across retries and restarts: the run row (platform, channel, local date) holds the
plan (the bullets, generated once) and the ref of every part as soon as the platform accepted it.
A retry re-reads the plan and posts only the parts not recorded yet, then finishes the bookkeeping.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any

from redis import Redis
from rq.job import Job

from bot.dialogue import EmptyConversationError, format_dialogue, restore_names
from bot.digest.controls import DigestRefused, check_channels
from bot.digest.conversations import Conversation, from_people, split_conversations
from bot.digest.platforms import DigestPlatform, platform_for
from bot.digest.render import DigestItem, DigestView, plain_text, render
from bot.digest.scheduler import PAYLOAD_VERSION
from bot.queue import PayloadError
from bot.store import Store, store_for
from bot.store.digest import (
    CANCELLED,
    FAILED,
    FINAL,
    POSTED,
    QUIET,
    QUIET_POST,
    REFUSED,
    DigestRun,
    DigestSchedule,
    RunKey,
    add_posted_ref,
    claim_run,
    ensure_tables,
    finish_run,
    get_run,
    get_schedule,
    save_plan,
)
from config.settings import active_settings
from worker.jobs import TRANSIENT_ERRORS, summarize_timed

log = logging.getLogger("recap.worker.digest")

CLOCK_SKEW = timedelta(minutes=5)  # the run row's clock vs the platform's: search a little earlier


def _parse(payload: dict[str, Any]) -> tuple[RunKey, str, datetime]:
    version = payload.get("version") if isinstance(payload, dict) else None
    if version != PAYLOAD_VERSION:
        raise PayloadError(
            f"digest payload version {version!r} is not supported (expected {PAYLOAD_VERSION})"
        )
    try:
        key = RunKey(payload["platform"], payload["channel"], payload["local_date"])
        return key, str(payload.get("workspace", "")), datetime.fromisoformat(payload["scheduled_for"])
    except (KeyError, ValueError) as exc:
        raise PayloadError(f"digest payload is malformed: {type(exc).__name__}") from None


def run_digest(payload: dict[str, Any]) -> dict[str, Any]:
    key, workspace, scheduled_for = _parse(payload)
    settings = active_settings()
    store = ensure_tables(store_for(settings))
    run = get_run(store, key) or claim_run(store, key, workspace, scheduled_for)[0]
    if run.status in FINAL:
        return {"status": run.status, "message_ref": run.message_ref}
    schedule = get_schedule(store, key.platform, key.channel)
    if schedule is None or not schedule.enabled or schedule.opted_out:
        finish_run(store, run.id, CANCELLED, reason="digest turned off")
        return {"status": CANCELLED}
    platform = platform_for(key.platform, settings)
    resumed = run.plan is not None  # an earlier attempt planned, so it may have posted parts unrecorded
    if not run.posted_refs:  # once a part is out, finish the digest even if the settings changed since
        try:
            source = platform.channel_info(schedule.channel)
            target = (
                source
                if schedule.target_channel == schedule.channel
                else platform.channel_info(schedule.target_channel)
            )
            check_channels(settings, source, target)
        except DigestRefused as refusal:
            return _refuse(run, schedule, platform, store, refusal)
        if run.plan is None:
            run = _plan(run, schedule, source.label, platform, store, settings)
    if run.plan is None or not run.plan.get("post"):
        finish_run(store, run.id, QUIET, reason="quiet day")
        log.info("digest %s %s for %s: quiet day, nothing posted", key.platform, key.channel, key.local_date)
        return {"status": QUIET}
    return _post(run, schedule, platform, store, resumed=resumed)


def _refuse(
    run: DigestRun, schedule: DigestSchedule, platform: DigestPlatform, store: Store, refusal: DigestRefused
) -> dict[str, Any]:
    """End the run as refused and tell the admin who set it up, once (only the call that ends it)."""
    log.warning("digest %s %s for %s refused: %s", run.platform, run.channel, run.local_date, refusal)
    if finish_run(store, run.id, REFUSED, reason=str(refusal)) and schedule.created_by:
        name = f"#{schedule.channel_name}" if schedule.channel_name else "a channel"
        text = (
            f"Today's daily digest of {name} was not posted: {refusal} "
            "The digest stays on; fix this before tomorrow, or turn it off with `digest off` in that channel."
        )
        try:
            platform.notify_admin(schedule.created_by, text)
        except Exception as exc:  # noqa: BLE001 - the refusal is recorded; telling the admin is best effort
            log.warning("digest %s %s: could not tell the admin (%s)", run.platform, run.channel, type(exc).__name__)
    return {"status": REFUSED, "reason": str(refusal)}


def _plan(
    run: DigestRun,
    schedule: DigestSchedule,
    label: str,
    platform: DigestPlatform,
    store: Store,
    settings: Any,
) -> DigestRun:
    """Collect, split, summarize in one batch, and keep the result on the run (and as a Summary row)."""
    end = _aware(run.scheduled_for)
    start = end - timedelta(hours=schedule.window_hours)
    messages = platform.collect(schedule.channel, start, end, settings.max_messages)
    # Parents of older threads come along as context; only the window's own messages are counted.
    total = len([m for m in from_people(messages) if m.timestamp >= start])
    conversations = (
        split_conversations(messages, timedelta(minutes=settings.digest_gap_minutes), since=start)
        if total >= schedule.min_messages
        else []
    )
    items, summary_id = _summarize(run, schedule, conversations, platform, store, settings, label, total)
    view = _view(label, run.local_date, items, total, schedule.min_messages)
    post = bool(items) or schedule.quiet_mode == QUIET_POST
    plan = {
        "post": post,
        "channel_label": label,
        "message_total": total,
        "min_messages": schedule.min_messages,
        "items": [item.to_dict() for item in items],
    }
    save_plan(store, run.id, plan, summary_id)
    log.info(
        "digest %s %s for %s: %d messages, %d conversations",
        run.platform,
        run.channel,
        run.local_date,
        total,
        len(view.items),
    )
    fresh = get_run(store, RunKey(run.platform, run.channel, run.local_date))
    assert fresh is not None
    return fresh


def _summarize(
    run: DigestRun,
    schedule: DigestSchedule,
    conversations: list[Conversation],
    platform: DigestPlatform,
    store: Store,
    settings: Any,
    label: str,
    total: int,
) -> tuple[list[DigestItem], int | None]:
    from worker.model.runtime import get_runtime

    dialogues, kept = [], []
    for conversation in conversations:
        try:
            dialogues.append(format_dialogue(conversation.messages))
            kept.append(conversation)
        except EmptyConversationError:
            continue
    if not dialogues:
        return [], None
    runtime = get_runtime(settings)
    # One batch for the whole channel.
    outputs, latency_ms = summarize_timed(runtime, [d.text for d in dialogues])
    items = [
        DigestItem(
            restore_names(output.text, dialogue.speakers),
            conversation.participants,
            conversation.message_count,
            platform.permalink(schedule.channel, conversation.first),
            conversation.first.timestamp.isoformat(),
        )
        for conversation, dialogue, output in zip(kept, dialogues, outputs, strict=True)
    ]
    summary_id = store.record_summary(
        request_id=RunKey(run.platform, run.channel, run.local_date).request_id,
        kind="digest",
        platform=run.platform,
        workspace=schedule.workspace,
        channel=schedule.target_channel,
        thread=None,
        requester=schedule.created_by,
        model=runtime.model_id,
        adapter=runtime.adapter,
        prompt_version=runtime.prompt.version,
        prompt=runtime.prompt.template,
        generation=runtime.generation.as_dict(),
        input_tokens=sum(o.input_tokens for o in outputs),
        output_tokens=sum(o.output_tokens for o in outputs),
        message_count=total,
        latency_ms=latency_ms,
        text=plain_text(_view(label, run.local_date, items, total, schedule.min_messages)),
        public=True,
    )
    return items, summary_id


def _view(label: str, local_date: str, items: list[DigestItem], total: int, min_messages: int) -> DigestView:
    return DigestView(label, date.fromisoformat(local_date), items, total, min_messages)


def _post(
    run: DigestRun, schedule: DigestSchedule, platform: DigestPlatform, store: Store, *, resumed: bool
) -> dict[str, Any]:
    plan = run.plan or {}
    items = [DigestItem.from_dict(item) for item in plan.get("items", [])]
    view = _view(plan["channel_label"], run.local_date, items, plan["message_total"], plan["min_messages"])
    parts = render(view, platform.style)
    key = RunKey(run.platform, run.channel, run.local_date)
    refs = list(run.posted_refs or [])
    for index, text in enumerate(parts):
        if index < len(refs):
            continue  # posted and recorded by an earlier attempt of this job
        # Posted by an earlier attempt that died before recording it? Adopt that message, never repost.
        ref = _adopt(run, schedule, platform, key, index) if resumed else None
        ref = ref or platform.post(
            schedule.target_channel,
            text,
            key=key.request_id,
            part=index,
            summary_id=run.summary_id or 0,
            last=index == len(parts) - 1,
        )
        refs = add_posted_ref(store, run.id, ref)
    if run.summary_id is not None:
        store.mark_delivered(run.summary_id, refs[0])  # reactions on the first part count as feedback
    finish_run(store, run.id, POSTED, message_ref=refs[0])
    log.info(
        "digest %s %s for %s posted in %d part(s)", key.platform, key.channel, key.local_date, len(parts)
    )
    return {"status": POSTED, "message_ref": refs[0], "parts": len(parts), "summary_id": run.summary_id}


def _adopt(run: DigestRun, schedule: DigestSchedule, platform: DigestPlatform, key: RunKey, part: int) -> str | None:
    """A part posted by an earlier attempt that died before recording it (the run row came first)."""
    since = _aware(run.created_at) - CLOCK_SKEW
    found = platform.find_posted(schedule.target_channel, key=key.request_id, part=part, since=since)
    if found:
        log.warning("digest %s %s for %s: part %d already posted", run.platform, run.channel, run.local_date, part)
    return found


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone=True columns; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def on_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> None:
    """Retry transient errors; anything else ends the run as failed (logged, without message text)."""
    name = exc_type.__name__ if exc_type else "unknown error"
    if isinstance(exc_value, TRANSIENT_ERRORS) and job.should_retry:
        log.warning("digest job %s: transient %s, %s retries left", job.id, name, job.retries_left)
        return
    job.retries_left = 0
    log.error("digest job %s failed: %s", job.id, name)
    try:
        key, _, _ = _parse(job.args[0])
        store = ensure_tables(store_for(active_settings()))
        run = get_run(store, key)
        if run is not None:
            finish_run(store, run.id, FAILED, reason=name)
    except Exception:  # noqa: BLE001 - the job's own failure is already recorded by RQ
        log.exception("digest job %s: could not record the failure", job.id)
