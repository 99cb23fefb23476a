"""Numbers, durations and dates as a Vietnamese official reads them: "1.234,5", "2 ngày 3 giờ", "14/04/2027".

Babel's `vi` locale gives the separators ("." for thousands, "," for decimals), so the printed report and
the page agree with every other Vietnamese document; files for machines (XLSX cells, CSV, JSON) keep plain
numbers so the Department can sum them.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

LOCALE = "vi_VN"


def number(value: float | int | None, digits: int = 0) -> str:
    """1234.5 -> "1.234,5" (at most `digits` decimals); None -> "—"."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=LOCALE)


def percent(value: float | None) -> str:
    """98.25 -> "98,25 %"; None (no on-hours in the period) -> "—"."""
    return "—" if value is None else f"{number(value, 2)} %"


def hours(seconds: float) -> str:
    """Hours with one decimal: 45_452 minutes is "757,5 giờ", not a five-digit count of minutes.

    Under an hour, minutes ("2,5 phút"), so a fresh screen's first plays do not read as "0 giờ".
    """
    if 0 < seconds < 3600:
        return f"{number(seconds / 60, 1)} phút"
    return f"{number(seconds / 3600, 1)} giờ"


def duration(seconds: float) -> str:
    """An outage's length in days, hours and minutes: "2 ngày 3 giờ", "4 giờ 5 phút", "3 phút"."""
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hrs, mins = divmod(rest, 60)
    parts = [f"{days} ngày"] if days else []
    if hrs:
        parts.append(f"{hrs} giờ")
    if mins and not days:
        parts.append(f"{mins} phút")
    return " ".join(parts) or "dưới 1 phút"


def local_time(moment: datetime | None, tz: ZoneInfo) -> str:
    return "—" if moment is None else f"{moment.astimezone(tz):%H:%M %d/%m/%Y}"
