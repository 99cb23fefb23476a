"""Properties over random rule sets: never black, next_change forward, timeline agrees with evaluate."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from signage_core.schedule import (
    LunarDate,
    ScheduleRule,
    SolarDate,
    TimeWindow,
    evaluate,
    next_change,
    timeline,
)

PLAYLISTS = ["a", "b", "c", "d"]
DEFAULT = "default"

quarter_hours = st.integers(0, 95).map(lambda q: time(q // 4, (q % 4) * 15))
windows = st.tuples(quarter_hours, quarter_hours).filter(lambda w: w[0] != w[1]).map(
    lambda w: TimeWindow(start=w[0], end=w[1])
)
days_2026 = st.dates(date(2025, 12, 1), date(2027, 2, 28))
calendar_dates = st.one_of(
    st.builds(SolarDate, day=st.integers(1, 28), month=st.integers(1, 12)),
    st.builds(LunarDate, day=st.integers(1, 30), month=st.integers(1, 12)),
)


@st.composite
def rules(draw: st.DrawFn) -> ScheduleRule:
    start = draw(st.none() | days_2026)
    end = draw(st.none() | days_2026)
    if start and end and end < start:
        start, end = end, start
    return ScheduleRule(
        id=f"r{draw(st.integers(0, 10_000))}",
        playlist_id=draw(st.sampled_from(PLAYLISTS)),
        priority=draw(st.integers(0, 3)),
        start_date=start,
        end_date=end,
        weekdays=draw(st.none() | st.frozensets(st.integers(0, 6), min_size=1)),
        windows=tuple(draw(st.lists(windows, max_size=3))),
        dates=tuple(draw(st.lists(calendar_dates, max_size=2))),
    )


rule_sets = st.lists(rules(), max_size=6)
instants = st.datetimes(datetime(2025, 12, 1), datetime(2027, 3, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(rule_sets, instants)
def test_always_something_playable(rs: list[ScheduleRule], at: datetime) -> None:
    result = evaluate(rs, DEFAULT, at)
    assert result.playlist_ids
    assert set(result.playlist_ids) <= set(PLAYLISTS) | {DEFAULT}
    if result.is_default:
        assert result.playlist_ids == (DEFAULT,)
    else:
        assert DEFAULT not in result.playlist_ids


@settings(max_examples=150, deadline=None)
@given(rule_sets, instants, st.floats(0.0, 1.0, exclude_max=True))
def test_next_change_is_in_the_future_and_is_a_change(
    rs: list[ScheduleRule], at: datetime, fraction: float
) -> None:
    change = next_change(rs, at, limit=timedelta(days=60))
    now = evaluate(rs, DEFAULT, at).playlist_ids
    if change is None:
        probe = at + timedelta(days=60) * fraction
        assert evaluate(rs, DEFAULT, probe).playlist_ids == now
        return
    assert change > at
    assert evaluate(rs, DEFAULT, change).playlist_ids != now
    # Nothing changes in between.
    probe = min(at + (change - at) * fraction, change - timedelta(microseconds=1))
    assert evaluate(rs, DEFAULT, probe).playlist_ids == now


@settings(max_examples=150, deadline=None)
@given(rule_sets, instants, st.integers(1, 4 * 24 * 60), st.lists(st.floats(0, 1, exclude_max=True), max_size=8))
def test_timeline_is_contiguous_and_agrees_with_evaluate(
    rs: list[ScheduleRule], start: datetime, minutes: int, probes: list[float]
) -> None:
    end = start + timedelta(minutes=minutes)
    segments = timeline(rs, DEFAULT, start, end)
    assert segments[0].start == start and segments[-1].end == end
    for before, after in zip(segments, segments[1:], strict=False):
        assert before.end == after.start
        assert (before.playlist_ids, before.is_default) != (after.playlist_ids, after.is_default)
    for segment in segments:
        for moment in (segment.start, segment.end - timedelta(microseconds=1)):
            result = evaluate(rs, DEFAULT, moment)
            assert (result.playlist_ids, result.is_default) == (segment.playlist_ids, segment.is_default)
    for fraction in probes:
        # timedelta * float rounds to microseconds; keep the probe inside [start, end).
        moment = min(start + (end - start) * fraction, end - timedelta(microseconds=1))
        [segment] = [s for s in segments if s.start <= moment < s.end]
        assert evaluate(rs, DEFAULT, moment).playlist_ids == segment.playlist_ids
