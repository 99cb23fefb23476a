"""Which playlist a screen shows when: one pure evaluator shared by the server's compiler and the player."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from signage_core.lunar import solar_to_lunar

# Both border sites and Cambodia use UTC+7 without daylight saving; rules speak local wall time.
TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = timedelta(days=1)
# How far next_change looks ahead: a yearly (lunar) date always falls within two years.
NEXT_CHANGE_LIMIT = timedelta(days=732)
_MAX_CHUNK = timedelta(days=64)
_SENTINEL_DEFAULT = "\x00default"


def require_aware(value: datetime, name: str) -> datetime:
    """Reject naive datetimes (their zone is a guess) and return the instant in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def to_local(at: datetime) -> datetime:
    """Naive Asia/Ho_Chi_Minh wall time of an instant, the frame rules are written in."""
    return require_aware(at, "time").astimezone(TIMEZONE).replace(tzinfo=None)


def from_local(local: datetime) -> datetime:
    """UTC instant of a naive Asia/Ho_Chi_Minh wall time."""
    return local.replace(tzinfo=TIMEZONE).astimezone(UTC)


class TimeWindow(BaseModel):
    """A daily window in local time; end <= start means it runs past midnight into the next day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @model_validator(mode="after")
    def _check(self) -> TimeWindow:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall times and must not carry a timezone")
        if self.start == self.end:
            raise ValueError(
                f"window {self.start.isoformat()}-{self.end.isoformat()} is empty; "
                "leave windows out for all day"
            )
        return self

    @property
    def overnight(self) -> bool:
        """True when the window ends on the day after it starts (22:00-02:00, or ending at 00:00)."""
        return self.end <= self.start

    def span(self, day: date) -> tuple[datetime, datetime]:
        """Local [start, end) of the window that starts on `day`."""
        begin = datetime.combine(day, self.start)
        finish = datetime.combine(day + DAY if self.overnight else day, self.end)
        return begin, finish


class SolarDate(BaseModel):
    """A recurring civil date (30/4, 2/9): the rule runs every year on that day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["solar"] = "solar"
    day: int = Field(ge=1, le=31)
    month: int = Field(ge=1, le=12)

    @model_validator(mode="after")
    def _check(self) -> SolarDate:
        try:
            date(2000, self.month, self.day)  # a leap year, so 29/2 is allowed
        except ValueError:
            raise ValueError(f"{self.day}/{self.month} is not a calendar date") from None
        return self

    def matches(self, day: date) -> bool:
        """True on that day and month of any year (29/2 only in leap years)."""
        return day.day == self.day and day.month == self.month


class LunarDate(BaseModel):
    """A recurring Vietnamese lunar date (Tết 1/1, Giỗ Tổ 10/3), computed at UTC+7; never a leap month."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["lunar"] = "lunar"
    day: int = Field(ge=1, le=30)
    month: int = Field(ge=1, le=12)

    def matches(self, day: date) -> bool:
        """True when `day` is this lunar day of the regular (non-leap) month; 30 skips short months."""
        lunar = solar_to_lunar(day)
        return not lunar.leap and lunar.day == self.day and lunar.month == self.month


CalendarDate = Annotated[SolarDate | LunarDate, Field(discriminator="kind")]


class ScheduleRule(BaseModel):
    """One scheduled playlist for one screen (the server resolves screen groups before calling us)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    playlist_id: str = Field(min_length=1)
    priority: int = 0
    # Local calendar dates, both inclusive; None leaves that side open.
    start_date: date | None = None
    end_date: date | None = None
    # 0 = Monday ... 6 = Sunday (Python's convention); None means every day.
    weekdays: frozenset[int] | None = None
    # Empty means all day.
    windows: tuple[TimeWindow, ...] = ()
    # Empty means any date; otherwise only on these recurring dates.
    dates: tuple[CalendarDate, ...] = ()

    @field_validator("weekdays")
    @classmethod
    def _check_weekdays(cls, value: frozenset[int] | None) -> frozenset[int] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("weekdays is empty, so the rule would never run; use null for every day")
        bad = sorted(d for d in value if not 0 <= d <= 6)
        if bad:
            raise ValueError(f"weekdays must be 0 (Monday) to 6 (Sunday), got {bad}")
        return value

    @model_validator(mode="after")
    def _check_range(self) -> ScheduleRule:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError(
                f"rule {self.id!r}: end_date {self.end_date} is before start_date {self.start_date}"
            )
        return self

    def runs_on(self, day: date) -> bool:
        """True when a window starting on this local day (or the whole day) belongs to the rule."""
        if self.start_date is not None and day < self.start_date:
            return False
        if self.end_date is not None and day > self.end_date:
            return False
        if self.weekdays is not None and day.weekday() not in self.weekdays:
            return False
        return not self.dates or any(d.matches(day) for d in self.dates)

    def spans_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Local [start, end) spans the rule contributes for windows starting on `day`."""
        if not self.runs_on(day):
            return []
        if not self.windows:
            start = datetime.combine(day, time())
            return [(start, start + DAY)]
        return [w.span(day) for w in self.windows]

    def active_at_local(self, local: datetime) -> bool:
        """True when the rule covers this local wall time (an overnight tail counts for its start day)."""
        day, moment = local.date(), local.time()
        if not self.windows:
            return self.runs_on(day)
        for window in self.windows:
            if window.overnight:
                if moment >= window.start and self.runs_on(day):
                    return True
                if moment < window.end and self.runs_on(day - DAY):
                    return True
            elif window.start <= moment < window.end and self.runs_on(day):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Resolution:
    """What plays at one instant: one playlist, or several of equal priority played interleaved."""

    playlist_ids: tuple[str, ...]
    priority: int | None
    rule_ids: tuple[str, ...]

    @property
    def is_default(self) -> bool:
        """True when no rule applies and the screen's default playlist fills in (never black)."""
        return not self.rule_ids


class Segment(BaseModel):
    """A stretch [start, end) of a screen's timeline with one resolution; UTC instants."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    end: datetime
    # More than one: equal priorities, interleaved in this order (see manifest.interleave).
    playlist_ids: tuple[str, ...] = Field(min_length=1)
    is_default: bool = False

    @model_validator(mode="after")
    def _check(self) -> Segment:
        start = require_aware(self.start, "segment start")
        end = require_aware(self.end, "segment end")
        if end <= start:
            raise ValueError(f"segment end {end.isoformat()} is not after start {start.isoformat()}")
        if len(set(self.playlist_ids)) != len(self.playlist_ids):
            raise ValueError(f"segment names a playlist twice: {list(self.playlist_ids)}")
        return self


def _resolve(active: Iterable[ScheduleRule], default_playlist: str) -> Resolution:
    """Highest priority wins; equal top priorities share the slot, ordered by playlist id."""
    rules = list(active)
    if not rules:
        return Resolution((default_playlist,), None, ())
    top = max(r.priority for r in rules)
    tier = [r for r in rules if r.priority == top]
    return Resolution(
        tuple(sorted({r.playlist_id for r in tier})), top, tuple(sorted(r.id for r in tier))
    )


def _check_default(default_playlist: str) -> None:
    if not default_playlist:
        raise ValueError("default_playlist is empty: every screen needs one so it never goes black")


def evaluate(rules: Sequence[ScheduleRule], default_playlist: str, at: datetime) -> Resolution:
    """What a screen plays at instant `at`, given that screen's rules; never nothing."""
    _check_default(default_playlist)
    local = to_local(at)
    return _resolve((r for r in rules if r.active_at_local(local)), default_playlist)


def timeline(
    rules: Sequence[ScheduleRule], default_playlist: str, start: datetime, end: datetime
) -> list[Segment]:
    """Contiguous segments covering [start, end), merged where what plays does not change."""
    _check_default(default_playlist)
    start_utc, end_utc = require_aware(start, "start"), require_aware(end, "end")
    if end_utc <= start_utc:
        raise ValueError(f"timeline end {end_utc.isoformat()} is not after start {start_utc.isoformat()}")
    local_start, local_end = to_local(start_utc), to_local(end_utc)

    # Sweep line over local time: +1/-1 per rule where its spans begin/end.
    events: dict[datetime, list[tuple[int, int]]] = {local_start: []}
    first_day, last_day = local_start.date() - DAY, local_end.date()
    # Rules whose date range misses the whole window cost nothing per day.
    relevant = [
        (index, rule)
        for index, rule in enumerate(rules)
        if not (rule.end_date is not None and rule.end_date < first_day)
        and not (rule.start_date is not None and rule.start_date > last_day)
    ]
    day = first_day  # yesterday's overnight windows reach into today
    while day <= last_day:
        for index, rule in relevant:
            for begin, finish in rule.spans_on(day):
                begin, finish = max(begin, local_start), min(finish, local_end)
                if begin < finish:
                    events.setdefault(begin, []).append((index, 1))
                    events.setdefault(finish, []).append((index, -1))
        day += DAY

    # Per rule: how many of its spans are open; per priority: how many open rules name each playlist.
    counts: dict[int, int] = {}
    tiers: dict[int, dict[str, int]] = {}
    segments: list[Segment] = []
    current: tuple[tuple[str, ...], bool] | None = None
    current_start = local_start
    for moment in sorted(events):
        for index, delta in events[moment]:
            before = counts.get(index, 0)
            after = before + delta
            counts[index] = after
            if (before == 0) != (after == 0):
                rule = rules[index]
                tier = tiers.setdefault(rule.priority, {})
                left = tier.get(rule.playlist_id, 0) + (1 if after else -1)
                if left:
                    tier[rule.playlist_id] = left
                else:
                    del tier[rule.playlist_id]
                    if not tier:
                        del tiers[rule.priority]
        if moment >= local_end:
            break
        if tiers:
            key: tuple[tuple[str, ...], bool] = (tuple(sorted(tiers[max(tiers)])), False)
        else:
            key = ((default_playlist,), True)
        if key != current:
            if current is not None:
                segments.append(_segment(current_start, moment, current))
            current, current_start = key, moment
    if current is None:  # unreachable: local_start is always an event
        raise RuntimeError("timeline sweep produced no segment")
    segments.append(_segment(current_start, local_end, current))
    return segments


def _segment(begin: datetime, finish: datetime, key: tuple[tuple[str, ...], bool]) -> Segment:
    return Segment(start=from_local(begin), end=from_local(finish), playlist_ids=key[0], is_default=key[1])


def next_change(
    rules: Sequence[ScheduleRule], at: datetime, *, limit: timedelta = NEXT_CHANGE_LIMIT
) -> datetime | None:
    """First instant after `at` when what plays changes; None if nothing changes within `limit`."""
    at_utc = require_aware(at, "at")
    if not rules:
        return None
    local = to_local(at_utc)
    now = _resolve((r for r in rules if r.active_at_local(local)), _SENTINEL_DEFAULT)
    current = (now.playlist_ids, now.is_default)
    # Look a day ahead first (the usual answer), then widen so a distant Tết stays cheap to find.
    chunk, chunk_start, stop = DAY, at_utc, at_utc + limit
    while chunk_start < stop:
        chunk_end = min(chunk_start + chunk, stop)
        for segment in timeline(rules, _SENTINEL_DEFAULT, chunk_start, chunk_end):
            if (segment.playlist_ids, segment.is_default) != current:
                return segment.start
        chunk_start, chunk = chunk_end, min(chunk * 2, _MAX_CHUNK)
    return None
