"""What plays when: the cases operators will actually set up, at their edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from signage_core.schedule import (
    LunarDate,
    ScheduleRule,
    SolarDate,
    TimeWindow,
    evaluate,
    next_change,
    timeline,
)

ICT = timedelta(hours=7)


def local(*args: int) -> datetime:
    """A Vietnam wall-clock time as the UTC instant the evaluator receives."""
    return datetime(*args, tzinfo=UTC) - ICT  # type: ignore[misc]


def window(start: str, end: str) -> TimeWindow:
    return TimeWindow(start=time.fromisoformat(start), end=time.fromisoformat(end))


def rule(id: str, playlist: str, **kw: object) -> ScheduleRule:
    return ScheduleRule(id=id, playlist_id=playlist, **kw)  # type: ignore[arg-type]


def plays(rules: list[ScheduleRule], at: datetime) -> tuple[str, ...]:
    return evaluate(rules, "default", at).playlist_ids


def test_nothing_scheduled_shows_the_default_playlist() -> None:
    result = evaluate([], "default", local(2026, 3, 1, 12))
    assert result.playlist_ids == ("default",)
    assert result.is_default and result.priority is None


def test_rule_outside_its_window_falls_back_to_default() -> None:
    rules = [rule("r", "morning", windows=(window("06:00", "09:00"),))]
    assert plays(rules, local(2026, 3, 1, 7)) == ("morning",)
    assert plays(rules, local(2026, 3, 1, 9)) == ("default",)
    assert plays(rules, local(2026, 3, 1, 5, 59)) == ("default",)


def test_window_is_local_time_not_utc() -> None:
    rules = [rule("r", "morning", windows=(window("06:00", "09:00"),))]
    # 06:30 in Vietnam is 23:30 UTC the day before.
    assert plays(rules, datetime(2026, 2, 28, 23, 30, tzinfo=UTC)) == ("morning",)
    assert plays(rules, datetime(2026, 3, 1, 6, 30, tzinfo=UTC)) == ("default",)


def test_higher_priority_wins_in_overlap() -> None:
    rules = [
        rule("base", "everyday", priority=0),
        rule("campaign", "campaign", priority=5, windows=(window("08:00", "12:00"),)),
    ]
    assert plays(rules, local(2026, 3, 1, 10)) == ("campaign",)
    assert plays(rules, local(2026, 3, 1, 13)) == ("everyday",)
    assert evaluate(rules, "default", local(2026, 3, 1, 10)).rule_ids == ("campaign",)


def test_equal_priorities_share_the_slot_in_playlist_order() -> None:
    rules = [
        rule("b", "tourism", priority=3),
        rule("a", "investment", priority=3),
        rule("low", "everyday", priority=1),
    ]
    result = evaluate(rules, "default", local(2026, 3, 1, 10))
    assert result.playlist_ids == ("investment", "tourism")
    assert result.rule_ids == ("a", "b") and result.priority == 3


def test_two_rules_with_the_same_playlist_do_not_duplicate_it() -> None:
    rules = [rule("a", "p", priority=1), rule("b", "p", priority=1)]
    assert plays(rules, local(2026, 3, 1, 10)) == ("p",)


def test_overnight_window_covers_both_sides_of_midnight() -> None:
    rules = [rule("night", "night", windows=(window("22:00", "02:00"),))]
    assert plays(rules, local(2026, 3, 1, 21, 59)) == ("default",)
    assert plays(rules, local(2026, 3, 1, 22, 0)) == ("night",)
    assert plays(rules, local(2026, 3, 1, 23, 59)) == ("night",)
    assert plays(rules, local(2026, 3, 2, 1, 59)) == ("night",)
    assert plays(rules, local(2026, 3, 2, 2, 0)) == ("default",)


def test_overnight_tail_belongs_to_the_day_it_started() -> None:
    # Fridays only (weekday 4): the window runs into Saturday morning, not into Friday morning.
    rules = [rule("fri", "night", weekdays=frozenset({4}), windows=(window("22:00", "02:00"),))]
    friday = date(2026, 3, 6)
    assert friday.weekday() == 4
    assert plays(rules, local(2026, 3, 6, 23)) == ("night",)
    assert plays(rules, local(2026, 3, 7, 1)) == ("night",)  # Saturday 01:00
    assert plays(rules, local(2026, 3, 6, 1)) == ("default",)  # Friday 01:00 is Thursday's tail
    assert plays(rules, local(2026, 3, 7, 23)) == ("default",)


def test_window_ending_at_midnight() -> None:
    rules = [rule("eve", "eve", windows=(window("18:00", "00:00"),))]
    assert plays(rules, local(2026, 3, 1, 23, 59, 59)) == ("eve",)
    assert plays(rules, local(2026, 3, 2, 0, 0)) == ("default",)


def test_date_range_edges_are_inclusive_local_days() -> None:
    rules = [rule("r", "national", start_date=date(2026, 4, 28), end_date=date(2026, 5, 2))]
    assert plays(rules, local(2026, 4, 27, 23, 59, 59)) == ("default",)
    assert plays(rules, local(2026, 4, 28, 0, 0)) == ("national",)
    assert plays(rules, local(2026, 5, 2, 23, 59, 59)) == ("national",)
    assert plays(rules, local(2026, 5, 3, 0, 0)) == ("default",)


def test_overnight_window_on_the_last_day_runs_to_its_end() -> None:
    rules = [
        rule("r", "night", end_date=date(2026, 5, 2), windows=(window("22:00", "02:00"),)),
    ]
    assert plays(rules, local(2026, 5, 3, 1)) == ("night",)
    assert plays(rules, local(2026, 5, 3, 23)) == ("default",)


def test_fixed_solar_dates_recur_every_year() -> None:
    rules = [rule("r", "reunification", dates=(SolarDate(day=30, month=4), SolarDate(day=2, month=9)))]
    for year in (2026, 2031):
        assert plays(rules, local(year, 4, 30, 12)) == ("reunification",)
        assert plays(rules, local(year, 9, 2, 0)) == ("reunification",)
        assert plays(rules, local(year, 5, 1, 0)) == ("default",)


def test_tet_rule_follows_the_vietnamese_lunar_calendar() -> None:
    rules = [rule("tet", "tet", priority=9, dates=(LunarDate(day=1, month=1),))]
    assert plays(rules, local(1985, 1, 21, 8)) == ("tet",)
    assert plays(rules, local(1985, 1, 20, 23, 59)) == ("default",)
    assert plays(rules, local(1985, 2, 20, 8)) == ("default",)  # the Chinese date
    assert plays(rules, local(2030, 2, 2, 0)) == ("tet",)
    assert plays(rules, local(2026, 2, 17, 0)) == ("tet",)


def test_gio_to_rule_on_lunar_10_3() -> None:
    rules = [rule("gio-to", "hung-kings", dates=(LunarDate(day=10, month=3),), windows=(window("06:00", "22:00"),))]
    assert plays(rules, local(2025, 4, 7, 6)) == ("hung-kings",)
    assert plays(rules, local(2025, 4, 7, 22)) == ("default",)
    assert plays(rules, local(2026, 4, 26, 12)) == ("hung-kings",)
    assert plays(rules, local(2026, 4, 7, 12)) == ("default",)


def test_lunar_rule_skips_the_leap_month() -> None:
    rules = [rule("r", "p", dates=(LunarDate(day=1, month=2),))]
    assert plays(rules, local(2023, 2, 20, 12)) == ("p",)
    assert plays(rules, local(2023, 3, 22, 12)) == ("default",)  # leap 2nd month


def test_all_filters_combine() -> None:
    rules = [rule(
        "r", "p",
        start_date=date(2026, 3, 1), end_date=date(2026, 3, 31),
        weekdays=frozenset({0, 1}), windows=(window("08:00", "10:00"), window("16:00", "18:00")),
    )]
    assert plays(rules, local(2026, 3, 2, 9)) == ("p",)  # Monday morning
    assert plays(rules, local(2026, 3, 3, 17)) == ("p",)  # Tuesday afternoon
    assert plays(rules, local(2026, 3, 3, 12)) == ("default",)
    assert plays(rules, local(2026, 3, 4, 9)) == ("default",)  # Wednesday
    assert plays(rules, local(2026, 4, 6, 9)) == ("default",)  # Monday after the range


def test_next_change_at_window_edges() -> None:
    rules = [rule("r", "p", windows=(window("08:00", "17:00"),))]
    assert next_change(rules, local(2026, 3, 1, 7)) == local(2026, 3, 1, 8)
    assert next_change(rules, local(2026, 3, 1, 8)) == local(2026, 3, 1, 17)
    assert next_change(rules, local(2026, 3, 1, 18)) == local(2026, 3, 2, 8)


def test_next_change_ignores_rules_hidden_under_a_higher_one() -> None:
    rules = [
        rule("top", "top", priority=5, start_date=date(2026, 3, 1), end_date=date(2026, 3, 10)),
        rule("low", "low", windows=(window("08:00", "09:00"),)),
    ]
    assert next_change(rules, local(2026, 3, 1, 7)) == local(2026, 3, 11)


def test_next_change_none_when_nothing_will_change() -> None:
    assert next_change([], local(2026, 3, 1)) is None
    assert next_change([rule("forever", "p")], local(2026, 3, 1)) is None
    ended = [rule("old", "p", end_date=date(2020, 1, 1))]
    assert next_change(ended, local(2026, 3, 1)) is None


def test_next_change_finds_next_years_tet() -> None:
    rules = [rule("tet", "tet", dates=(LunarDate(day=1, month=1),))]
    assert next_change(rules, local(2026, 3, 1)) == local(2027, 2, 6)


def test_timeline_merges_and_covers_the_range() -> None:
    rules = [
        rule("night", "night", windows=(window("22:00", "02:00"),)),
        rule("tet", "tet", priority=2, dates=(LunarDate(day=1, month=1),)),
    ]
    segments = timeline(rules, "default", local(2026, 2, 16, 12), local(2026, 2, 18, 12))
    got = [(s.start, s.end, s.playlist_ids, s.is_default) for s in segments]
    assert got == [
        (local(2026, 2, 16, 12), local(2026, 2, 16, 22), ("default",), True),
        (local(2026, 2, 16, 22), local(2026, 2, 17, 0), ("night",), False),
        (local(2026, 2, 17, 0), local(2026, 2, 18, 0), ("tet",), False),
        (local(2026, 2, 18, 0), local(2026, 2, 18, 2), ("night",), False),
        (local(2026, 2, 18, 2), local(2026, 2, 18, 12), ("default",), True),
    ]


def test_adjacent_windows_of_one_rule_make_one_segment() -> None:
    rules = [rule("r", "p", windows=(window("08:00", "12:00"), window("12:00", "14:00")))]
    segments = timeline(rules, "default", local(2026, 3, 1), local(2026, 3, 2))
    assert [(s.start, s.end) for s in segments if not s.is_default] == [
        (local(2026, 3, 1, 8), local(2026, 3, 1, 14))
    ]


def test_timeline_refuses_empty_or_naive_ranges() -> None:
    with pytest.raises(ValueError, match="not after start"):
        timeline([], "default", local(2026, 3, 2), local(2026, 3, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        timeline([], "default", datetime(2026, 3, 1), datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate([], "default", datetime(2026, 3, 1))


def test_empty_default_playlist_is_refused() -> None:
    with pytest.raises(ValueError, match="never goes black"):
        evaluate([], "", local(2026, 3, 1))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weekdays": frozenset({7})}, "0 \\(Monday\\) to 6 \\(Sunday\\)"),
    ({"weekdays": frozenset()}, "would never run"),
    ({"start_date": date(2026, 5, 1), "end_date": date(2026, 4, 1)}, "before start_date"),
    ({"dates": ({"kind": "solar", "day": 31, "month": 2},)}, "31/2 is not a calendar date"),
    ({"dates": ({"kind": "lunar", "day": 31, "month": 1},)}, "less than or equal to 30"),
    ({"windows": ({"start": "08:00", "end": "08:00"},)}, "is empty"),
])
def test_bad_rules_are_refused_with_a_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleRule(id="r", playlist_id="p", **kwargs)  # type: ignore[arg-type]


def test_rule_parses_from_json_shape() -> None:
    parsed = ScheduleRule.model_validate({
        "id": "r", "playlist_id": "p", "priority": 2, "weekdays": [0, 6],
        "windows": [{"start": "22:00", "end": "02:00"}],
        "dates": [{"kind": "lunar", "day": 1, "month": 1}, {"kind": "solar", "day": 2, "month": 9}],
    })
    assert parsed.windows[0].overnight
    assert isinstance(parsed.dates[0], LunarDate) and isinstance(parsed.dates[1], SolarDate)
