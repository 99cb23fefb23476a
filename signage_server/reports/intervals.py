"""Interval arithmetic on UTC instants, and the spans a screen is meant to be on: no database here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from signage_server.screens.models import Enrolment, Screen

Interval = tuple[datetime, datetime]


def merge(intervals: Iterable[Interval], *, gap: timedelta = timedelta(0)) -> list[Interval]:
    """Sorted, non-overlapping intervals; neighbours closer than `gap` become one."""
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if hi <= lo:
            continue
        if out and lo - out[-1][1] <= gap:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi <= cur or blo >= hi:
                continue
            if blo > cur:
                out.append((cur, blo))
            cur = max(cur, bhi)
        if cur < hi:
            out.append((cur, hi))
    return out


def total(intervals: Iterable[Interval]) -> float:
    return sum((hi - lo).total_seconds() for lo, hi in intervals)



def on_hours(screen: Screen, *, start: datetime, end: datetime, tz: ZoneInfo) -> list[Interval]:
    """The screen's scheduled on-hours within [start, end); all day when unset; off before on spans midnight."""
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    spans: list[Interval] = []
    day = first
    while day <= last:
        if screen.on_time is None or screen.off_time is None:
            lo = datetime.combine(day, time.min, tzinfo=tz)
            hi = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
        else:
            lo = datetime.combine(day, screen.on_time, tzinfo=tz)
            off_day = day if screen.off_time > screen.on_time else day + timedelta(days=1)
            hi = datetime.combine(off_day, screen.off_time, tzinfo=tz)
        spans.append((max(lo.astimezone(UTC), start), min(hi.astimezone(UTC), end)))
        day += timedelta(days=1)
    return merge(spans)



def in_service(screen: Screen, *, start: datetime, end: datetime) -> list[Interval]:
    """When the screen was in service within [start, end): from commissioning until revocation.

    A pending screen (never enrolled, no commissioning date) was never in service: it is listed apart, and
    the time before a screen existed is no outage.
    """
    if screen.enrolment == Enrolment.PENDING or screen.commissioned_at is None:
        return []
    lo = max(start, screen.commissioned_at)
    hi = min(end, screen.revoked_at) if screen.revoked_at is not None else end
    return [(lo, hi)] if lo < hi else []
