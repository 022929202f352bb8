"""Trigger times: wall-clock generate/send times in a trigger's timezone -> naive UTC.

Every function takes `now` explicitly (naive UTC, the storage convention) and
returns naive UTC datetimes.

DST rules (zoneinfo), chosen so every configured time maps to exactly one instant:
- a local time that does not exist (spring-forward gap) moves forward to the
  first valid instant after the gap: 02:30 on Europe/Berlin 2026-03-29 -> 03:00
  CEST (01:00 UTC); 02:30 on America/New_York 2026-03-08 -> 03:00 EDT (07:00 UTC);
- an ambiguous local time (fall-back) uses the FIRST occurrence (fold=0, the
  earlier instant, still on summer time): 01:30 on America/New_York 2026-11-01
  -> 01:30 EDT (05:30 UTC).

A send time earlier than the generate time is refused by trigger activation,
but these functions stay defined for it: the send instant is always computed
on the SAME local day as the generate instant, so it then lies before the
generate instant and means "send as soon as approved" for that occurrence.
"""
import functools
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UTC = timezone.utc


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone(value) -> bool:
    """An IANA name such as Europe/Berlin (not any path ZoneInfo would open)."""
    return isinstance(value, str) and value in _known_zones()


def zone(tz: str | None) -> ZoneInfo:
    """ZoneInfo for an IANA name; ValueError (not KeyError) for an unknown one."""
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown timezone: {tz!r}") from exc


def local_date(now: datetime, tz: str) -> date:
    """The calendar date in `tz` at the naive-UTC instant `now`."""
    return now.replace(tzinfo=UTC).astimezone(zone(tz)).date()


def _to_naive_utc(aware: datetime) -> datetime:
    return aware.astimezone(UTC).replace(tzinfo=None)


def local_instant(day: date, at: time, tz: str) -> datetime:
    """The instant `at` o'clock on `day` in `tz`, as naive UTC (DST-safe, see module doc)."""
    z = zone(tz)
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = wall.replace(tzinfo=z)  # fold=0: the first occurrence of an ambiguous time
    instant = first.astimezone(UTC)
    if instant.astimezone(z).replace(tzinfo=None) == wall:
        return instant.replace(tzinfo=None)
    # The wall time falls in a gap. fold=1 maps it with the offset after the
    # transition (an earlier UTC instant), fold=0 with the one before (a later
    # one); the transition lies between. Bisect to the minute it happens.
    lo = wall.replace(tzinfo=z, fold=1).astimezone(UTC)  # before the transition
    hi = instant  # after the transition
    before = lo.astimezone(z).utcoffset()
    while hi - lo > timedelta(minutes=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(second=0, microsecond=0)
        if mid <= lo:
            mid = lo + timedelta(minutes=1)
        if mid.astimezone(z).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return _to_naive_utc(hi)


def next_run(generate_at: time, send_at: time, tz: str, now: datetime) -> dict:
    """{"generate": dt, "send": dt} naive UTC: the next generate instant >= now and the
    send instant on the same local day (see the module doc for send < generate)."""
    today = local_date(now, tz)
    for offset in range(3):  # today, else tomorrow (a DST day cannot push past that)
        day = today + timedelta(days=offset)
        generate = local_instant(day, generate_at, tz)
        if generate >= now:
            return {"generate": generate, "send": local_instant(day, send_at, tz), "day": day}
    raise AssertionError("unreachable: a generate time exists every day")


def occurrence_for(now: datetime, generate_at: time, tz: str, send_at: time | None = None):
    """(occurrence_key "YYYY-MM-DD", generate_instant, send_instant) for today's local date
    in tz, or None if today's generate time has not come yet.

    The key is the LOCAL date, so one trigger generates at most once per local
    day even across DST changes. Without `send_at` the send instant equals the
    generate instant.
    """
    today = local_date(now, tz)
    generate = local_instant(today, generate_at, tz)
    if now < generate:
        return None
    send = local_instant(today, send_at, tz) if send_at is not None else generate
    return today.isoformat(), generate, send
