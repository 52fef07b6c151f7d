"""What the admin commands of both platforms do once they know who asked and for which channels:
validate the options, check the channel controls, save the schedule, and word the reply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.digest.controls import ChannelInfo, DigestRefused, check_channels
from bot.digest.schedule import (
    ScheduleError,
    next_occurrence,
    parse_time_of_day,
    parse_timezone,
    system_clock,
)
from bot.store import store_for
from bot.store.digest import QUIET_POST, QUIET_SKIP, DigestSchedule, get_schedule, opt_out, save_schedule

DEFAULT_TIME, DEFAULT_TZ, DEFAULT_WINDOW_H, DEFAULT_MIN = "09:00", "UTC", 24.0, 3
MAX_WINDOW_H = 7 * 24


@dataclass(frozen=True)
class DigestOptions:
    """What the admin typed; None keeps the current value (or the default for a new digest)."""

    time_of_day: str | None = None
    timezone: str | None = None
    window_hours: float | None = None
    min_messages: int | None = None
    quiet_day: bool | None = None


def _pick(typed: Any, current: Any, default: Any) -> Any:
    """What the admin typed, else the saved value, else the default for a new digest."""
    if typed is not None:
        return typed
    return current if current is not None else default


def _merged(current: DigestSchedule | None, options: DigestOptions) -> dict[str, Any]:
    time_of_day = options.time_of_day or (current.time_of_day if current else DEFAULT_TIME)
    timezone = options.timezone or (current.timezone if current else DEFAULT_TZ)
    parsed = parse_time_of_day(time_of_day)
    parse_timezone(timezone)
    window = _pick(options.window_hours, current and current.window_hours, DEFAULT_WINDOW_H)
    if not 0 < window <= MAX_WINDOW_H:
        raise ScheduleError(f"The window must be between 1 h and {MAX_WINDOW_H} h.")
    minimum = _pick(options.min_messages, current and current.min_messages, DEFAULT_MIN)
    if not 0 <= minimum <= 10_000:
        raise ScheduleError("The minimum number of messages must be between 0 and 10000.")
    quiet = _pick(options.quiet_day, current and current.quiet_mode == QUIET_POST, False)
    return {
        "time_of_day": f"{parsed:%H:%M}",
        "timezone": timezone,
        "window_hours": float(window),
        "min_messages": int(minimum),
        "quiet_mode": QUIET_POST if quiet else QUIET_SKIP,
    }


def turn_on(
    settings: Any,
    platform: str,
    workspace: str,
    source: ChannelInfo,
    target: ChannelInfo,
    options: DigestOptions,
    user: str,
    now: datetime | None = None,
) -> str:
    """Save the schedule and return the reply; raises DigestRefused / ScheduleError with the reason."""
    check_channels(settings, source, target)
    store = store_for(settings)
    fields = _merged(get_schedule(store, platform, source.id), options)
    schedule = save_schedule(
        store,
        platform,
        source.id,
        workspace=workspace,
        channel_name=source.name,
        target_channel=target.id,
        created_by=user,
        now=now,
        **fields,
    )
    return "Daily digest is *on*. " + describe(schedule, target.label, now)


def turn_off(settings: Any, platform: str, source: ChannelInfo, user: str) -> str:
    if opt_out(store_for(settings), platform, source.id, user):
        return f"Daily digest is *off* for {source.label}. Nothing more will be posted about it."
    return f"{source.label} has no daily digest."


def show(settings: Any, platform: str, source: ChannelInfo, now: datetime | None = None) -> str:
    schedule = get_schedule(store_for(settings), platform, source.id)
    if schedule is None or not schedule.enabled or schedule.opted_out:
        return f"{source.label} has no daily digest. An admin can turn one on with `digest on`."
    # `<#id>` is a channel link on both Slack and Discord.
    target = "this channel" if schedule.target_channel == source.id else f"<#{schedule.target_channel}>"
    return describe(schedule, target, now)


def describe(schedule: DigestSchedule, target_label: str, now: datetime | None = None) -> str:
    zone = parse_timezone(schedule.timezone)
    upcoming = next_occurrence(now or system_clock(), parse_time_of_day(schedule.time_of_day), zone)
    local = upcoming.at.astimezone(zone)
    quiet = 'a short "quiet day" note is posted' if schedule.quiet_mode == QUIET_POST else "nothing is posted"
    source = f"#{schedule.channel_name}" if schedule.channel_name else "this channel"
    return (
        f"{source}: every day at {schedule.time_of_day} ({schedule.timezone}), posted in {target_label}, "
        f"covering the last {schedule.window_hours:g} h. With fewer than {schedule.min_messages} messages, "
        f"{quiet}. Next digest: {local:%a %d %b %H:%M %Z}."
    )


__all__ = [
    "DigestOptions",
    "DigestRefused",
    "ScheduleError",
    "describe",
    "show",
    "store_for",
    "turn_off",
    "turn_on",
]
