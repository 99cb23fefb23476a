"""Brightness plans: the curve follows the sun at both gates, overrides win, and old manifests stay as they were."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from astral import Observer
from astral.sun import sun
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from signage_core.brightness import (
    MIN_STEP,
    BrightnessOverride,
    BrightnessPlan,
    Coordinates,
    LevelSource,
    PlanTime,
    SunEvent,
    day_curve,
    level_at,
    plan_level,
    sensor_percent,
)
from signage_core.canonical import canonical_json
from signage_core.manifest import (
    build_manifest_template,
    content_hash,
    sign_manifest,
    verify_manifest,
)
from signage_core.schedule import TIMEZONE
from signage_core.signing import SigningKey, TrustStore
from tests.core.test_manifest import NOW, SCREEN, build

# Approximate positions of the two gates (see playlists/*.yaml for the source of the figures).
HOA_LU = Coordinates(latitude=11.93, longitude=106.52)
HOANG_DIEU = Coordinates(latitude=12.07, longitude=106.79)
DAYS = [date(2026, 3, 20), date(2026, 6, 21), date(2026, 12, 21)]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TIMEZONE).astimezone(UTC)


def crossings(plan: BrightnessPlan, day: date) -> tuple[datetime, datetime]:
    """Minute by minute through the local day: when the level first leaves night, and first leaves day."""
    rise = set_ = None
    previous = plan_level(plan, local(day, 0)).percent
    for minute in range(1, 24 * 60):
        at = local(day, 0) + timedelta(minutes=minute)
        percent = plan_level(plan, at).percent
        if rise is None and previous == plan.night_percent and percent > previous:
            rise = at
        if set_ is None and previous == plan.day_percent and percent < previous:
            set_ = at
        previous = percent
    assert rise is not None and set_ is not None
    return rise, set_


@pytest.mark.parametrize("place", [HOA_LU, HOANG_DIEU], ids=["hoa-lu", "hoang-dieu"])
@pytest.mark.parametrize("day", DAYS, ids=str)
def test_ramps_start_at_the_libraries_sunrise_and_sunset(place: Coordinates, day: date) -> None:
    plan = BrightnessPlan(day_percent=100, night_percent=20, ramp_minutes=40, coordinates=place)
    expected = sun(Observer(place.latitude, place.longitude), date=day, tzinfo=TIMEZONE)
    rise, set_ = crossings(plan, day)
    assert abs(rise - expected["sunrise"]) <= timedelta(minutes=3)
    assert abs(set_ - expected["sunset"]) <= timedelta(minutes=3)
    # Tropical sun: between 05:20 and 06:20, sunset between 17:20 and 18:30 local, every season.
    assert time(5, 20) <= expected["sunrise"].time() <= time(6, 20)
    assert time(17, 20) <= expected["sunset"].time() <= time(18, 30)
    # Noon bright, midnight dim, and half-way up the ramp 20 minutes after sunrise.
    assert plan_level(plan, local(day, 12)).percent == 100
    assert plan_level(plan, local(day, 0)).percent == 20
    assert plan_level(plan, local(day, 23, 59)).percent == 20
    assert 55 <= plan_level(plan, expected["sunrise"] + timedelta(minutes=20)).percent <= 65
    assert plan_level(plan, expected["sunrise"] + timedelta(minutes=41)).percent == 100


def test_the_gates_sun_times_differ_by_their_longitude() -> None:
    day = DAYS[1]
    west = sun(Observer(HOA_LU.latitude, HOA_LU.longitude), date=day)["sunrise"]
    east = sun(Observer(HOANG_DIEU.latitude, HOANG_DIEU.longitude), date=day)["sunrise"]
    # 0.27° further east rises about a minute earlier: the plan uses each site's own figures.
    assert timedelta(seconds=30) < west - east < timedelta(minutes=3)


def test_fixed_times_and_offsets() -> None:
    plan = BrightnessPlan(day_percent=90, night_percent=10, ramp_minutes=0,
                          day_from=PlanTime(at=time(6, 30)),
                          night_from=PlanTime(sun=SunEvent.SUNSET, offset_minutes=-30), coordinates=HOA_LU)
    day = DAYS[0]
    assert plan_level(plan, local(day, 6, 29)).percent == 10
    assert plan_level(plan, local(day, 6, 30)).percent == 90
    sunset = sun(Observer(HOA_LU.latitude, HOA_LU.longitude), date=day, tzinfo=TIMEZONE)["sunset"]
    assert plan_level(plan, sunset - timedelta(minutes=31)).percent == 90
    assert plan_level(plan, sunset - timedelta(minutes=29)).percent == 10


def test_level_says_when_to_look_again() -> None:
    plan = BrightnessPlan(day_percent=100, night_percent=20, ramp_minutes=40, coordinates=HOA_LU)
    noon = plan_level(plan, local(DAYS[0], 12))
    sunset = sun(Observer(HOA_LU.latitude, HOA_LU.longitude), date=DAYS[0], tzinfo=TIMEZONE)["sunset"]
    assert abs(noon.until - sunset) < timedelta(seconds=1)  # nothing changes until the evening ramp
    ramping = plan_level(plan, sunset + timedelta(minutes=5))
    # 80 points in 40 minutes: a point every 30 s, never faster than every 10 s.
    assert timedelta(seconds=10) <= ramping.until - (sunset + timedelta(minutes=5)) <= timedelta(seconds=30)


def test_override_and_alert_beat_the_plan_and_end_on_time() -> None:
    until = local(DAYS[0], 22)
    plan = BrightnessPlan(night_percent=15, alert_percent=100, coordinates=HOANG_DIEU,
                          override=BrightnessOverride(percent=60, until=until))
    at = local(DAYS[0], 21)
    assert level_at(plan, at).percent == 60
    assert level_at(plan, at).source is LevelSource.OVERRIDE and level_at(plan, at).until == until
    assert level_at(plan, until).percent == 15 and level_at(plan, until).source is LevelSource.PLAN
    alert = level_at(plan, at, alert=True)
    assert (alert.percent, alert.source) == (100, LevelSource.ALERT)
    sensed = level_at(plan.model_copy(update={"override": None}), at, sensor_percent=42)
    assert (sensed.percent, sensed.source) == (42, LevelSource.SENSOR)


def test_sensor_curve_is_linear_between_points_and_flat_beyond() -> None:
    curve = ((0.0, 10), (1000.0, 40), (50_000.0, 100))
    assert sensor_percent(-5, curve) == 10
    assert sensor_percent(500, curve) == 25
    assert sensor_percent(25_500, curve) == 70
    assert sensor_percent(120_000, curve) == 100


def test_bad_plans_say_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="latitude and longitude"):
        BrightnessPlan()  # sunrise/sunset by default, no place
    with pytest.raises(ValidationError, match="not both"):
        PlanTime(at=time(6), sun=SunEvent.SUNRISE)
    with pytest.raises(ValidationError, match="less than or equal to 90"):
        Coordinates(latitude=91, longitude=0)
    with pytest.raises(ValidationError):
        BrightnessPlan(day_percent=101, coordinates=HOA_LU)


def test_day_curve_covers_the_local_day() -> None:
    plan = BrightnessPlan(coordinates=HOA_LU)
    points = day_curve(plan, DAYS[1])
    assert len(points) == 24 * 6 + 1
    assert points[0][1] == plan.night_percent and points[72][1] == plan.day_percent  # midnight, noon


def test_manifest_without_a_plan_is_byte_for_byte_what_it_was() -> None:
    body = build()
    plain = body.model_dump(mode="python")
    assert "brightness" not in plain
    assert b"brightness" not in sign_manifest(body, SigningKey.generate()).to_json()
    assert body.content_hash == content_hash(plain)


def test_plan_travels_signed_and_changes_the_hash() -> None:
    plan = BrightnessPlan(coordinates=HOA_LU, override=BrightnessOverride(percent=100, until=NOW + timedelta(hours=2)))
    key = SigningKey.generate()
    body = build(brightness=plan)
    assert body.brightness == plan and body.content_hash != build().content_hash
    raw = sign_manifest(body, key).to_json()
    got = verify_manifest(raw, trust=TrustStore.of(key.public_key), screen_id=SCREEN, last_version=None, now=NOW)
    assert got.brightness == plan
    template = build_manifest_template(**{**_args(), "brightness": plan})  # type: ignore[arg-type]
    spliced = template.body_json(screen_id=SCREEN, version=1, issued_at=NOW, expires_at=body.expires_at)
    assert spliced == canonical_json(template.body.model_dump(mode="python"))
    assert json.loads(spliced)["brightness"]["coordinates"] == {"latitude": 11.93, "longitude": 106.52}


def _args() -> dict[str, object]:
    from signage_core.manifest import horizon_window
    from tests.core.test_manifest import ASSETS, LAYOUT, PLAYLISTS, RULES, SLIDES

    start, end = horizon_window(NOW)
    return dict(screen_id=SCREEN, version=1, issued_at=NOW, expires_at=end, layout=LAYOUT, rules=RULES,
                default_playlist="everyday", playlists=PLAYLISTS, slides=SLIDES, assets=ASSETS,
                horizon_start=start, horizon_end=end)


@settings(max_examples=150, deadline=None)
@given(day=st.integers(1, 100), night=st.integers(0, 100), ramp=st.integers(0, 240),
       rise=st.integers(-240, 240), set_=st.integers(-240, 240), minute=st.integers(0, 3 * 24 * 60),
       place=st.sampled_from([HOA_LU, HOANG_DIEU]))
def test_any_plan_stays_between_its_levels_and_always_looks_ahead(
        day: int, night: int, ramp: int, rise: int, set_: int, minute: int, place: Coordinates) -> None:
    plan = BrightnessPlan(day_percent=day, night_percent=night, ramp_minutes=ramp, coordinates=place,
                          day_from=PlanTime(sun=SunEvent.SUNRISE, offset_minutes=rise),
                          night_from=PlanTime(sun=SunEvent.SUNSET, offset_minutes=set_))
    at = local(DAYS[1], 0) + timedelta(minutes=minute)
    level = plan_level(plan, at)
    assert min(day, night) <= level.percent <= max(day, night)
    assert level.until > at, "the player must never be told to look again in the past"
    # Nothing changes before `until` (the player sleeps that long) unless the ramp steps faster than
    # MIN_STEP, when the level may lag by less than MIN_STEP.
    if level.until - at > MIN_STEP:
        assert plan_level(plan, level.until - timedelta(milliseconds=1)).percent == level.percent
