"""Report periods and the province's reporting calendar: dates, deadlines and the words titles use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from signage_server.errors import Invalid
from signage_server.reports.intervals import Interval

MAX_SPAN_DAYS = 400


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar dates, both inclusive, as reports state them ("from 15/10/2025 to 14/04/2026")."""

    start: date
    end: date

    def bounds(self, tz: ZoneInfo) -> Interval:
        """The UTC instants the local dates cover: storage is UTC, the Department counts local days."""
        lo = datetime.combine(self.start, time.min, tzinfo=tz).astimezone(UTC)
        hi = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
        return lo, hi

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def make_period(start: date, end: date) -> Period:
    """A period, refusing reversed or overlong ranges with a message naming the field."""
    if end < start:
        raise Invalid("'to' must not be before 'from'", field="to")
    if (end - start).days >= MAX_SPAN_DAYS:
        raise Invalid("a report covers at most %(days)s days", field="to", params={"days": MAX_SPAN_DAYS})
    return Period(start, end)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown time zone %(name)s", field="timezone", params={"name": repr(name)}) from None


KINDS = ("half_year", "annual")


@dataclass(frozen=True, slots=True)
class ReportCalendar:
    """The province's deadlines and the data cut-off, from Settings (see docs/reports.md)."""

    half_year_due: tuple[int, int]  # (month, day)
    annual_due: tuple[int, int]
    cutoff_day: int
    banner_days: int

    def due(self, kind: str) -> tuple[int, int]:
        if kind == "half_year":
            return self.half_year_due
        if kind == "annual":
            return self.annual_due
        raise Invalid("unknown report kind %(kind)s; use one of %(known)s", field="kind",
                      params={"kind": repr(kind), "known": ", ".join(KINDS)})


def parse_month_day(value: str, name: str) -> tuple[int, int]:
    try:
        month, day = (int(x) for x in value.split("-"))
        date(2001, month, day)
    except ValueError:
        raise Invalid("%(name)s must be MM-DD, got %(value)s", field=name,
                      params={"name": name, "value": repr(value)}) from None
    return month, day


def _cutoff(year: int, due: tuple[int, int], cutoff_day: int) -> date:
    """Data closes on `cutoff_day` of the month before the deadline."""
    month = due[0] - 1 or 12
    return date(year if due[0] > 1 else year - 1, month, cutoff_day)


def report_period(calendar: ReportCalendar, *, kind: str, year: int) -> Period:
    """The reporting year runs from the day after last year's annual cut-off; half-year ends at its own cut-off."""
    end = _cutoff(year, calendar.due(kind), calendar.cutoff_day)
    start = _cutoff(year - 1, calendar.annual_due, calendar.cutoff_day) + timedelta(days=1)
    return Period(start, end)


def months_in(period: Period) -> int:
    """Whole months a period covers, counting 15/10 to 14/04 as six (the 15th-to-14th convention)."""
    after = period.end + timedelta(days=1)
    return (after.year - period.start.year) * 12 + after.month - period.start.month


def date_words(day: date) -> str:
    """A date as Vietnamese administrative text writes it: "ngày 14 tháng 4 năm 2027"."""
    return f"ngày {day.day} tháng {day.month} năm {day.year}"


def period_words(period: Period) -> str:
    """The period in words, both ends inclusive: "từ ngày 15 tháng 10 năm 2026 đến hết ngày 14 tháng 4 năm 2027"."""
    return f"từ {date_words(period.start)} đến hết {date_words(period.end)}"


def report_title(kind: str, year: int, period: Period) -> str:
    """The title, made from the period it covers so that the two cannot disagree.

    The reporting year is named by the year in which its data close and the report is due (as Decree
    09/2019/NĐ-CP names a year of data running from 15/12 of the year before); the half-year report is not
    "6 tháng đầu năm", since it starts in the previous calendar year: it says "N tháng" with its dates.
    """
    return f"Báo cáo {kind_words(kind, year, period)} ({period.start:%d/%m/%Y} – {period.end:%d/%m/%Y})"


def kind_words(kind: str, year: int | None, period: Period) -> str:
    """What the report covers, for its title: "6 tháng năm 2027", "năm 2027", or the dates of a range."""
    if kind == "annual":
        return f"năm {year}"
    if kind == "half_year":
        return f"{months_in(period)} tháng năm {year}"
    if kind == "range":
        return f"từ {period.start:%d/%m/%Y} đến {period.end:%d/%m/%Y}"
    raise Invalid("unknown report kind %(kind)s; use one of %(known)s", field="kind",
                      params={"kind": repr(kind), "known": ", ".join(KINDS)})


@dataclass(frozen=True, slots=True)
class DueReport:
    kind: str
    year: int
    deadline: date
    period: Period
    days_left: int
    show_banner: bool


def due_reports(calendar: ReportCalendar, *, today: date) -> list[DueReport]:
    """Each kind's next deadline on or after `today`; the banner shows from `banner_days` before it."""
    out: list[DueReport] = []
    for kind in KINDS:
        month, day = calendar.due(kind)
        year = today.year if date(today.year, month, day) >= today else today.year + 1
        deadline = date(year, month, day)
        left = (deadline - today).days
        out.append(DueReport(kind, year, deadline, report_period(calendar, kind=kind, year=year), left,
                             left <= calendar.banner_days))
    return sorted(out, key=lambda d: d.deadline)
