"""Vietnamese lunar calendar at UTC+7, so lunar campaigns (Tết, Giỗ Tổ) land on Vietnam's dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import lunar_vn

# The Vietnamese calendar is computed for UTC+7; China's (UTC+8) differs in some years (Tết 1985).
VIETNAM_UTC_OFFSET_HOURS = 7.0
SUPPORTED_YEARS = (1900, 2100)


@dataclass(frozen=True, slots=True)
class LunarDay:
    """A day of the Vietnamese lunar calendar; `leap` marks the intercalary month."""

    day: int
    month: int
    year: int
    leap: bool = False


def _check_year(year: int) -> None:
    """Name the supported range instead of letting the library fail obscurely."""
    low, high = SUPPORTED_YEARS
    if not low <= year <= high:
        raise ValueError(f"year {year} is outside the supported lunar range {low}-{high}")


@lru_cache(maxsize=8192)
def solar_to_lunar(day: date) -> LunarDay:
    """Lunar date of a civil day in Vietnam; cached because schedules ask for the same days often."""
    _check_year(day.year)
    result = lunar_vn.convert_solar_to_lunar(
        day.day, day.month, day.year, time_zone=VIETNAM_UTC_OFFSET_HOURS
    )
    return LunarDay(int(result.day), int(result.month), int(result.year), bool(result.leap))


def lunar_to_solar(day: int, month: int, year: int, *, leap: bool = False) -> date:
    """Civil date of a lunar day; refuses days a short (29-day) or absent leap month does not have."""
    if not 1 <= month <= 12:
        raise ValueError(f"lunar month must be 1-12, got {month}")
    if not 1 <= day <= 30:
        raise ValueError(f"lunar day must be 1-30, got {day}")
    _check_year(year)
    kind = "leap month" if leap else "month"
    try:
        result: date = lunar_vn.convert_lunar_to_solar(
            day, month, year, lunar_leap=1 if leap else 0, time_zone=VIETNAM_UTC_OFFSET_HOURS
        )
    except ValueError as exc:
        raise ValueError(f"lunar {kind} {month} of {year} does not exist ({exc})") from None
    # The library silently rolls 30 over into the next month; a round trip catches that.
    if solar_to_lunar(result) != LunarDay(day, month, year, leap):
        raise ValueError(f"lunar {kind} {month} of {year} has no day {day}")
    return result


def tet(year: int) -> date:
    """Civil date of Tết Nguyên Đán (lunar 1/1) of the given lunar year."""
    return lunar_to_solar(1, 1, year)
