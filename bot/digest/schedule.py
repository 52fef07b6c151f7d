"""When a digest is due, in the schedule's own timezone, safely across DST changes.

Rules for local times that do not exist or exist twice (both follow PEP 495 with ``fold=0``):
- spring forward: 02:30 in a skipped hour runs at the shifted time (03:30 local, the same UTC instant);
- fall back: 01:30 that happens twice runs at its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    """A time of day or timezone a person typed is not valid; the message says what is accepted."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_time_of_day(text: str) -> time:
    match = _HHMM.match(text.strip())
    if not match:
        raise ScheduleError(f"'{text}' is not a time of day: use 24-hour HH:MM, like 09:00 or 17:30.")
    return time(int(match.group(1)), int(match.group(2)))


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"'{name}' is not an IANA timezone: use a name like UTC, Europe/Berlin or America/New_York."
        ) from None


@dataclass(frozen=True)
class Occurrence:
    """One scheduled run: the UTC instant, and the local date that names it (the idempotency key)."""

    at: datetime
    local_date: date

    @property
    def key_date(self) -> str:
        return self.local_date.isoformat()


def occurrence_on(day: date, at: time, zone: ZoneInfo) -> Occurrence:
    """The UTC instant of ``at`` on local ``day``.

    fold=0 gives the shifted time in a gap and the first occurrence in an overlap.
    """
    local = datetime.combine(day, at).replace(tzinfo=zone, fold=0)
    return Occurrence(local.astimezone(UTC), day)


def latest_occurrence(now: datetime, at: time, zone: ZoneInfo) -> Occurrence:
    """The most recent scheduled run at or before ``now``."""
    today = now.astimezone(zone).date()
    candidate = occurrence_on(today, at, zone)
    if candidate.at > now:
        candidate = occurrence_on(today - timedelta(days=1), at, zone)
    return candidate


def next_occurrence(now: datetime, at: time, zone: ZoneInfo) -> Occurrence:
    """The first scheduled run strictly after ``now``."""
    today = now.astimezone(zone).date()
    for offset in range(0, 3):
        candidate = occurrence_on(today + timedelta(days=offset), at, zone)
        if candidate.at > now:
            return candidate
    raise AssertionError("a daily time always recurs within two days")  # pragma: no cover
