"""Digest schedules and digest runs, on the store's `Base` (their tables are in the baseline migration).

A run row is the idempotency key of a digest: UNIQUE (platform, channel, local_date). The scheduler
claims it before enqueuing, and the job records each posted part on it, so neither a second scheduler
nor a retried job can post a second digest for the same channel and day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Boolean, CursorResult, DateTime, Float, Integer, String, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow
from bot.store.store import Store

QUIET_SKIP = "skip"
QUIET_POST = "post"

# Run statuses. FINAL ones are never worked on again.
QUEUED, POSTED, SKIPPED, QUIET, REFUSED, FAILED, CANCELLED = (
    "queued",
    "posted",
    "skipped",
    "quiet",
    "refused",
    "failed",
    "cancelled",
)
FINAL = frozenset({POSTED, SKIPPED, QUIET, REFUSED, FAILED, CANCELLED})


class DigestSchedule(Base):
    __tablename__ = "digest_schedules"
    __table_args__ = (UniqueConstraint("platform", "channel", name="one_digest_schedule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(64))
    channel_name: Mapped[str] = mapped_column(String(255), default="")
    target_channel: Mapped[str] = mapped_column(String(64))
    time_of_day: Mapped[str] = mapped_column(String(5), default="09:00")  # local HH:MM
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # IANA name
    window_hours: Mapped[float] = mapped_column(Float, default=24.0)
    min_messages: Mapped[int] = mapped_column(Integer, default=3)
    quiet_mode: Mapped[str] = mapped_column(String(8), default=QUIET_SKIP)  # skip | post
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    # Scheduled times before this are not "missed": enabling at 10:00 for 09:00 starts tomorrow.
    enabled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DigestRun(Base):
    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("platform", "channel", "local_date", name="one_digest_per_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(64))
    local_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD in the schedule's timezone
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    reason: Mapped[str] = mapped_column(String(255), default="")
    # What will be posted (channel label, bullets, counts): a retry posts exactly this, never new text.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    posted_refs: Mapped[list[str]] = mapped_column(JSON, default=list)  # one per posted part, in order
    message_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)
    summary_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class RunKey:
    platform: str
    channel: str
    local_date: str

    @property
    def request_id(self) -> str:
        """The Summary row's request_id (and the RQ job id's seed) for this digest."""
        return f"digest:{self.platform}:{self.channel}:{self.local_date}"


SCHEDULE_FIELDS = {
    "workspace",
    "channel_name",
    "target_channel",
    "time_of_day",
    "timezone",
    "window_hours",
    "min_messages",
    "quiet_mode",
    "created_by",
}


def ensure_tables(store: Store) -> Store:
    """Kept for callers: the digest tables come with the store's migrations (revision 0001), so an opened
    store always has them."""
    return store


def save_schedule(
    store: Store, platform: str, channel: str, *, now: datetime | None = None, **fields: Any
) -> DigestSchedule:
    """Create or update the channel's schedule and turn it on (clearing an opt-out)."""
    ensure_tables(store)
    unknown = set(fields) - SCHEDULE_FIELDS
    if unknown:
        raise ValueError(f"unknown digest schedule fields: {sorted(unknown)}")
    now = now or utcnow()
    with store.session() as session:
        row = session.scalar(_schedule_query(platform, channel))
        if row is None:
            row = DigestSchedule(platform=platform, channel=channel, target_channel=channel)
            session.add(row)
        was_on = bool(row.enabled) and not row.opted_out and row.id is not None
        for name, value in fields.items():
            setattr(row, name, value)
        row.enabled, row.opted_out, row.updated_at = True, False, now
        if not was_on:
            row.enabled_at = now
        session.flush()
        return row


def opt_out(store: Store, platform: str, channel: str, by: str) -> bool:
    """Turn the channel's digest off; False when it had none."""
    ensure_tables(store)
    with store.session() as session:
        row = session.scalar(_schedule_query(platform, channel))
        if row is None:
            return False
        row.enabled, row.opted_out, row.created_by, row.updated_at = (
            False,
            True,
            by or row.created_by,
            utcnow(),
        )
        return True


def get_schedule(store: Store, platform: str, channel: str) -> DigestSchedule | None:
    ensure_tables(store)
    with store.session() as session:
        return session.scalar(_schedule_query(platform, channel))


def active_schedules(store: Store) -> list[DigestSchedule]:
    ensure_tables(store)
    with store.session() as session:
        query = select(DigestSchedule).where(
            DigestSchedule.enabled.is_(True), DigestSchedule.opted_out.is_(False)
        )
        return list(session.scalars(query.order_by(DigestSchedule.id)))


def _schedule_query(platform: str, channel: str) -> Any:
    return select(DigestSchedule).where(
        DigestSchedule.platform == platform, DigestSchedule.channel == channel
    )


# Runs


def claim_run(
    store: Store, key: RunKey, workspace: str, scheduled_for: datetime, status: str = QUEUED, reason: str = ""
) -> tuple[DigestRun, bool]:
    """Insert the run for ``key``; (existing run, False) when someone else claimed it first."""
    ensure_tables(store)
    try:
        with store.session() as session:
            row = DigestRun(
                platform=key.platform,
                channel=key.channel,
                local_date=key.local_date,
                workspace=workspace,
                scheduled_for=scheduled_for,
                status=status,
                reason=reason,
                posted_refs=[],
            )
            session.add(row)
            session.flush()
            return row, True
    except IntegrityError:
        existing = get_run(store, key)
        if existing is None:
            raise
        return existing, False


def get_run(store: Store, key: RunKey) -> DigestRun | None:
    ensure_tables(store)
    with store.session() as session:
        return session.scalar(
            select(DigestRun).where(
                DigestRun.platform == key.platform,
                DigestRun.channel == key.channel,
                DigestRun.local_date == key.local_date,
            )
        )


def runs_for(store: Store, platform: str, channel: str) -> list[DigestRun]:
    ensure_tables(store)
    with store.session() as session:
        query = select(DigestRun).where(DigestRun.platform == platform, DigestRun.channel == channel)
        return list(session.scalars(query.order_by(DigestRun.local_date)))


def save_plan(store: Store, run_id: int, plan: dict[str, Any], summary_id: int | None) -> None:
    with store.session() as session:
        session.execute(
            update(DigestRun)
            .where(DigestRun.id == run_id)
            .values(plan=plan, summary_id=summary_id, updated_at=utcnow())
        )


def add_posted_ref(store: Store, run_id: int, ref: str) -> list[str]:
    """Record one posted part right after the platform accepted it (a retry skips it)."""
    with store.session() as session:
        row = session.get(DigestRun, run_id, with_for_update=True)
        if row is None:
            raise LookupError(f"digest run {run_id} vanished")
        row.posted_refs = [*(row.posted_refs or []), ref]
        row.updated_at = utcnow()
        return list(row.posted_refs)


def finish_run(
    store: Store, run_id: int, status: str, *, reason: str = "", message_ref: str | None = None
) -> bool:
    """Move a run to a final status, unless it already is final. True if this call moved it."""
    with store.session() as session:
        # An UPDATE returns a CursorResult (which has rowcount); execute() is typed as the general Result.
        result = cast(
            CursorResult[Any],
            session.execute(
                update(DigestRun)
                .where(DigestRun.id == run_id, DigestRun.status.not_in(FINAL))
                .values(status=status, reason=reason[:255], message_ref=message_ref, updated_at=utcnow())
            ),
        )
        return bool(result.rowcount)
