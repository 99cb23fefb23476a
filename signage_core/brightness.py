"""Brightness that follows the sun: the plan a manifest carries and its evaluation at an instant.

Server and player evaluate with this one module (the server for the day chart, the player with its
clock), so the curve an operator sees is the curve the LED follows. Sunrise and sunset come from
`astral` for the site's coordinates, in the evaluator's Vietnam time (signage_core.schedule.TIMEZONE).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from astral import Observer
from astral.sun import sun
from pydantic import BaseModel, ConfigDict, Field, model_validator

from signage_core.schedule import TIMEZONE, from_local, require_aware, to_local

# A level changes at most this often inside a ramp: an LED controller needs no finer steps.
MIN_STEP = timedelta(seconds=10)
# Where the sun does not rise or set that day (polar sites only): day and night start at these.
FALLBACK_SUNRISE = time(6, 0)
FALLBACK_SUNSET = time(18, 0)


class SunEvent(StrEnum):
    SUNRISE = "sunrise"
    SUNSET = "sunset"


class LevelSource(StrEnum):
    """Why the screen has the level it has; carried in the heartbeat."""

    PLAN = "plan"
    OVERRIDE = "override"  # the operator's manual level until a time
    ALERT = "alert"  # an urgent alert is on screen
    SENSOR = "sensor"  # the site's light sensor through the player's curve


class Coordinates(BaseModel):
    """A site's position in degrees (WGS 84), north and east positive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class PlanTime(BaseModel):
    """A time of day: a fixed local time (`at`), or minutes before/after sunrise or sunset (`sun`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: time | None = None
    sun: SunEvent | None = None
    offset_minutes: int = Field(default=0, ge=-240, le=240)

    @model_validator(mode="after")
    def _one_kind(self) -> PlanTime:
        if (self.at is None) == (self.sun is None):
            raise ValueError("a plan time is either a fixed time (at) or relative to the sun (sun), not both")
        if self.at is not None and self.offset_minutes:
            raise ValueError("offset_minutes applies to sunrise/sunset times only")
        return self


class BrightnessOverride(BaseModel):
    """A level that beats the plan until `until` (e.g. 100 % for the next two hours)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    percent: int = Field(ge=0, le=100)
    until: datetime

    @model_validator(mode="after")
    def _aware(self) -> BrightnessOverride:
        require_aware(self.until, "until")
        return self


class PlanLevels(BaseModel):
    """Day level from `day_from`, night level from `night_from`, each reached by a linear ramp.

    The part of a plan an operator sets; the server stores it as is (signage_server StoredPlan).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    day_percent: int = Field(default=100, ge=1, le=100)
    night_percent: int = Field(default=30, ge=0, le=100)
    day_from: PlanTime = PlanTime(sun=SunEvent.SUNRISE)
    night_from: PlanTime = PlanTime(sun=SunEvent.SUNSET)
    # The ramp starts at day_from / night_from and reaches the new level this many minutes later.
    ramp_minutes: int = Field(default=30, ge=0, le=240)
    # Level while an urgent alert is on screen (it must be readable whatever the hour).
    alert_percent: int = Field(default=100, ge=0, le=100)
    override: BrightnessOverride | None = None

    @property
    def uses_sun(self) -> bool:
        return self.day_from.sun is not None or self.night_from.sun is not None


class BrightnessPlan(PlanLevels):
    """The plan as a manifest carries it: the levels, with the site's coordinates for sunrise and sunset."""

    coordinates: Coordinates | None = None

    @model_validator(mode="after")
    def _sun_needs_place(self) -> BrightnessPlan:
        if self.coordinates is None and self.uses_sun:
            raise ValueError("a sunrise/sunset time needs the site's latitude and longitude")
        return self


@dataclass(frozen=True, slots=True)
class Level:
    """The level to show at an instant, why, and when it may change next."""

    percent: int
    source: LevelSource
    until: datetime


@functools.lru_cache(maxsize=64)
def sun_times(latitude: float, longitude: float, day: date) -> tuple[datetime, datetime]:
    """Sunrise and sunset (UTC) of this local day at this place; 06:00/18:00 where the sun stays up or down."""
    try:
        times = sun(Observer(latitude, longitude), date=day, tzinfo=TIMEZONE)
        return require_aware(times["sunrise"], "sunrise"), require_aware(times["sunset"], "sunset")
    except ValueError:
        return (from_local(datetime.combine(day, FALLBACK_SUNRISE)),
                from_local(datetime.combine(day, FALLBACK_SUNSET)))


def resolve(plan_time: PlanTime, day: date, coordinates: Coordinates | None) -> datetime:
    """The instant (UTC) a plan time falls on, on this local day."""
    if plan_time.at is not None:
        return from_local(datetime.combine(day, plan_time.at))
    if coordinates is None:
        raise ValueError("a sunrise/sunset time needs coordinates")
    rise, set_ = sun_times(coordinates.latitude, coordinates.longitude, day)
    base = rise if plan_time.sun is SunEvent.SUNRISE else set_
    return base + timedelta(minutes=plan_time.offset_minutes)


def _events(plan: BrightnessPlan, day: date) -> list[tuple[datetime, int]]:
    """Ramp starts around `day`, sorted: (instant, the level the ramp reaches)."""
    out = []
    for offset in (-1, 0, 1):
        d = day + timedelta(days=offset)
        out.append((resolve(plan.day_from, d, plan.coordinates), plan.day_percent))
        out.append((resolve(plan.night_from, d, plan.coordinates), plan.night_percent))
    out.sort()
    return out


def plan_level(plan: BrightnessPlan, at: datetime) -> Level:
    """The plan's own level at `at` (no override): the last ramp's target, or a point on the ramp."""
    at = require_aware(at, "at")
    events = _events(plan, to_local(at).date())
    index = max(i for i, (start, _) in enumerate(events) if start <= at)
    start, target = events[index]
    before = events[index - 1][1] if index > 0 else target
    ramp = timedelta(minutes=plan.ramp_minutes)
    following = events[index + 1][0] if index + 1 < len(events) else at + timedelta(days=1)
    if ramp and at < start + ramp and before != target:
        value = before + (target - before) * ((at - start) / ramp)
        percent = math.floor(value + 0.5)  # half up, so the next change is at the next half step
        half = percent + 0.5 if target > before else percent - 0.5
        next_change = start + ramp * ((half - before) / (target - before))
        # Never sooner than MIN_STEP: a controller gets at most one level every 10 s, at most that late.
        return Level(percent, LevelSource.PLAN, min(max(next_change, at + MIN_STEP), start + ramp, following))
    return Level(target, LevelSource.PLAN, following)


def level_at(plan: BrightnessPlan, at: datetime, *, alert: bool = False, sensor_percent: int | None = None) -> Level:
    """What the screen should show: an alert's level, else the override, else the sensor, else the plan."""
    at = require_aware(at, "at")
    override = plan.override if plan.override is not None and at < plan.override.until else None
    if alert:
        return Level(plan.alert_percent, LevelSource.ALERT, at + timedelta(minutes=1))
    if override is not None:
        return Level(override.percent, LevelSource.OVERRIDE, override.until)
    own = plan_level(plan, at)
    if sensor_percent is not None:
        return Level(sensor_percent, LevelSource.SENSOR, own.until)
    return own


def day_curve(plan: BrightnessPlan, day: date, *, step: timedelta = timedelta(minutes=10)) -> list[tuple[datetime, int]]:
    """The plan's level through one local day (no override), for the pages' chart."""
    start = from_local(datetime.combine(day, time()))
    end = from_local(datetime.combine(day + timedelta(days=1), time()))
    points = []
    at = start
    while at <= end:
        points.append((at, plan_level(plan, at).percent))
        at += step
    return points


def sensor_percent(lux: float, curve: tuple[tuple[float, int], ...]) -> int:
    """A lux reading through a (lux, percent) curve, linear between points, flat beyond the ends."""
    if not curve:
        raise ValueError("the sensor curve has no points")
    points = sorted(curve)
    if lux <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if lux <= x1:
            return round(y0 + (y1 - y0) * (lux - x0) / (x1 - x0)) if x1 > x0 else y1
    return points[-1][1]
