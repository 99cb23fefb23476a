"""Which period a report request means: the asked range, the next periodic report due, the day it is dated."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from signage_server.config import Settings
from signage_server.errors import Invalid
from signage_server.reports import calendar as cal
from signage_server.reports import exports
from signage_server.reports.calendar import Period, ReportCalendar

DEFAULT_DAYS = 30


def report_calendar(settings: Settings) -> ReportCalendar:
    return ReportCalendar(cal.parse_month_day(settings.report_half_year_due, "report_half_year_due"),
                          cal.parse_month_day(settings.report_annual_due, "report_annual_due"),
                          settings.report_cutoff_day, settings.report_banner_days)


def today(settings: Settings, now: datetime) -> date:
    return now.astimezone(cal.zone(settings.timezone)).date()


def chosen_period(settings: Settings, now: datetime, start: date | None, end: date | None) -> Period:
    """The asked range; by default the last 30 local days up to today."""
    end = end or today(settings, now)
    return cal.make_period(start or end - timedelta(days=DEFAULT_DAYS - 1), end)


def periodic(settings: Settings, now: datetime, kind: str, year: int | None) -> tuple[str, Period, int]:
    """A periodic report's title, period and year: the next one due unless a year is asked."""
    calendar = report_calendar(settings)
    calendar.due(kind)  # names the kinds when the kind is wrong
    if year is None:
        year = next(d.year for d in cal.due_reports(calendar, today=today(settings, now)) if d.kind == kind)
    if not 2000 <= year <= 2200:
        raise Invalid("year must be between 2000 and 2200", field="year")
    period = cal.report_period(calendar, kind=kind, year=year)
    return cal.report_title(kind, year, period), period, year


def range_title(period: Period) -> str:
    return f"{exports.TITLES['range']} {cal.kind_words('range', None, period)}"


def report_day(b: exports.Bundle, settings: Settings, now: datetime) -> date:
    """The date printed under the motto: the day it was issued, else today."""
    return (b.issued_at or now).astimezone(cal.zone(settings.timezone)).date()
