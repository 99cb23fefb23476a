"""Lunar dates must be Vietnam's (UTC+7), or Tết campaigns start on the wrong day."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from signage_core.lunar import LunarDay, lunar_to_solar, solar_to_lunar, tet

CORPUS = Path("/work/shared/corpus/captions.json")
TET_DATES = [date.fromisoformat(d) for d in json.loads(CORPUS.read_text("utf-8"))["vietnamese_lunar_new_year"]["dates"]]


def test_corpus_lists_the_1985_tet() -> None:
    assert date(1985, 1, 21) in TET_DATES
    assert len(TET_DATES) >= 6


@pytest.mark.parametrize("day", TET_DATES, ids=str)
def test_tet_matches_corpus(day: date) -> None:
    assert tet(day.year) == day
    assert solar_to_lunar(day) == LunarDay(1, 1, day.year)


def test_tet_1985_is_not_the_chinese_date() -> None:
    # China celebrated on 1985-02-20; in Vietnam that day is already lunar 1/2.
    assert solar_to_lunar(date(1985, 2, 20)) == LunarDay(1, 2, 1985)


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2024, date(2024, 4, 18)), (2025, date(2025, 4, 7)), (2026, date(2026, 4, 26))],
)
def test_gio_to_hung_vuong_is_lunar_10_3(year: int, expected: date) -> None:
    assert lunar_to_solar(10, 3, year) == expected


def test_leap_month_is_reported_as_leap() -> None:
    # 2023 had a leap second month: the regular one began 20 Feb, the leap one 22 Mar.
    assert solar_to_lunar(date(2023, 2, 20)) == LunarDay(1, 2, 2023, leap=False)
    assert solar_to_lunar(date(2023, 3, 22)) == LunarDay(1, 2, 2023, leap=True)
    assert lunar_to_solar(1, 2, 2023, leap=True) == date(2023, 3, 22)
    assert lunar_to_solar(1, 6, 2025, leap=True) == date(2025, 7, 25)


def test_day_30_of_a_short_month_is_refused() -> None:
    with pytest.raises(ValueError, match="month 2 of 2025 has no day 30"):
        lunar_to_solar(30, 2, 2025)
    assert lunar_to_solar(29, 2, 2025) == date(2025, 3, 28)


def test_leap_month_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="leap month 5 of 2025"):
        lunar_to_solar(1, 5, 2025, leap=True)


@pytest.mark.parametrize(("day", "month", "year", "message"), [
    (1, 13, 2025, "month must be 1-12"),
    (31, 1, 2025, "day must be 1-30"),
    (1, 1, 2150, "outside the supported lunar range"),
])
def test_bad_lunar_input_names_the_problem(day: int, month: int, year: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lunar_to_solar(day, month, year)


def test_solar_year_outside_range_is_refused() -> None:
    with pytest.raises(ValueError, match="year 1850"):
        solar_to_lunar(date(1850, 1, 1))
