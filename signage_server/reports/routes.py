"""JSON and file exports of the reports under /api/v1/reports (token or session)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from signage_server.config import Settings
from signage_server.deps import NowDep, RequireRole, SessionDep, SettingsDep
from signage_server.errors import Invalid
from signage_server.reports import exports, schemas, service
from signage_server.reports.service import Period, ReportCalendar
from signage_server.users.models import Role, User

router = APIRouter(prefix="/reports", tags=["reports"])
# Reports are for the people who run the screens; translators only take the captions they wrote.
Readers = Annotated[User, RequireRole(Role.OPERATOR, Role.APPROVER)]
CaptionReaders = Annotated[User, RequireRole(Role.OPERATOR, Role.APPROVER, Role.TRANSLATOR)]
From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]
DEFAULT_DAYS = 30


def calendar(settings: Settings) -> ReportCalendar:
    return ReportCalendar(service.parse_month_day(settings.report_half_year_due, "report_half_year_due"),
                          service.parse_month_day(settings.report_annual_due, "report_annual_due"),
                          settings.report_cutoff_day, settings.report_banner_days)


def today(settings: Settings, now: datetime) -> date:
    return now.astimezone(service.zone(settings.report_timezone)).date()


def chosen_period(settings: Settings, now: datetime, start: date | None, end: date | None) -> Period:
    """The asked range; by default the last 30 local days up to today."""
    end = end or today(settings, now)
    return service.make_period(start or end - timedelta(days=DEFAULT_DAYS - 1), end)


def periodic(settings: Settings, now: datetime, kind: str, year: int | None) -> tuple[str, Period, int]:
    """A periodic report's title, period and year: the next one due unless a year is asked."""
    cal = calendar(settings)
    cal.due(kind)  # names the kinds when the kind is wrong
    if year is None:
        year = next(d.year for d in service.due_reports(cal, today=today(settings, now)) if d.kind == kind)
    if not 2000 <= year <= 2200:
        raise Invalid("year must be between 2000 and 2200", field="year")
    return f"{exports.TITLES[kind]} năm {year}", service.report_period(cal, kind=kind, year=year), year


def bundle(session: SessionDep, settings: Settings, now: datetime, *, title: str, period: Period,
           with_days: bool = True) -> exports.Bundle:
    return exports.build(session, title=title, unit=settings.report_unit, period=period,
                         tz=service.zone(settings.report_timezone), now=now, with_days=with_days)


def download(body: str | bytes, *, name: str, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def file_of(b: exports.Bundle, stem: str, fmt: str) -> Response:
    if fmt == "xlsx":
        return download(exports.to_xlsx(b), name=f"{stem}.xlsx", media_type=XLSX)
    if fmt == "csv":
        return download(exports.to_csv(b), name=f"{stem}.csv", media_type=CSV)
    raise Invalid("format must be xlsx or csv", field="format")


@router.get("/airtime")
def airtime(session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers, start: From = None,
            end: To = None, screen_id: Annotated[list[int] | None, Query()] = None) -> dict[str, Any]:
    """screen_id (repeatable) narrows the figures to those screens."""
    period = chosen_period(settings, now, start, end)
    return schemas.airtime_json(service.airtime(session, period=period, tz=service.zone(settings.report_timezone),
                                                screen_ids=screen_id))


@router.get("/availability")
def availability(session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers, start: From = None,
                 end: To = None) -> dict[str, Any]:
    period = chosen_period(settings, now, start, end)
    rows = service.availability(session, period=period, tz=service.zone(settings.report_timezone), now=now)
    return {"period": schemas.period_json(period), "percent": service.fleet_percent(rows),
            "screens": schemas.availability_json(rows)}


@router.get("/due")
def due(settings: SettingsDep, now: NowDep, _user: Readers) -> list[dict[str, Any]]:
    return [schemas.due_json(d) for d in service.due_reports(calendar(settings), today=today(settings, now))]


@router.get("/range.{fmt}")
def range_file(fmt: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
               start: From = None, end: To = None) -> Response:
    period = chosen_period(settings, now, start, end)
    b = bundle(session, settings, now, title=exports.TITLES["range"], period=period, with_days=False)
    return file_of(b, f"bao-cao-{period.start}-{period.end}", fmt)


@router.get("/periodic/{kind}")
def periodic_json(kind: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
                  year: int | None = None) -> dict[str, Any]:
    title, period, year = periodic(settings, now, kind, year)
    b = bundle(session, settings, now, title=title, period=period, with_days=False)
    return {"kind": kind, "year": year, "title": title, "unit": b.unit, "period": schemas.period_json(period),
            "airtime": schemas.airtime_json(b.airtime), "percent": b.fleet_percent,
            "availability": schemas.availability_json(b.availability)}


@router.get("/periodic/{kind}/export.{fmt}")
def periodic_file(kind: str, fmt: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
                  year: int | None = None) -> Response:
    title, period, year = periodic(settings, now, kind, year)
    b = bundle(session, settings, now, title=title, period=period, with_days=False)
    return file_of(b, f"bao-cao-{kind.replace('_', '-')}-{year}", fmt)


@router.get("/slides/{slide_id}")
def slide_runs(slide_id: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
               start: From = None, end: To = None) -> dict[str, Any]:
    period = chosen_period(settings, now, start, end)
    runs = service.slide_runs(session, slide_id=slide_id, period=period, tz=service.zone(settings.report_timezone))
    return {"slide_id": slide_id, "period": schemas.period_json(period), "runs": schemas.runs_json(runs)}


@router.get("/captions.{fmt}")
def captions_file(fmt: str, session: SessionDep, _user: CaptionReaders) -> Response:
    rows = service.approved_captions(session)
    if fmt == "csv":
        return download(exports.captions_csv(rows), name="captions.csv", media_type=CSV)
    if fmt == "json":
        return download(exports.captions_json(rows), name="captions.json", media_type="application/json")
    raise Invalid("format must be csv or json", field="format")
