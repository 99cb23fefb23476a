"""JSON and file exports of the reports under /api/v1/reports (token or session)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from sqlmodel import Session

from signage_server.config import Settings
from signage_server.deps import NowDep, RequireRole, SessionDep, SettingsDep
from signage_server.errors import Invalid
from signage_server.reports import exports, pdf, record, schemas, service
from signage_server.reports.calendar import Period, due_reports, period_words, zone
from signage_server.reports.models import ReportRecord
from signage_server.reports.periods import (
    chosen_period,
    periodic,
    range_title,
    report_calendar,
    report_day,
    today,
)
from signage_server.users.models import Role, User

router = APIRouter(prefix="/reports", tags=["reports"])
# Reports are for the people who run the screens; translators only take the captions they wrote.
Readers = Annotated[User, RequireRole(Role.OPERATOR, Role.APPROVER)]
CaptionReaders = Annotated[User, RequireRole(Role.OPERATOR, Role.APPROVER, Role.TRANSLATOR)]
# Issuing freezes the report the unit's head signs: an approver's act, not an operator's.
Issuers = Annotated[User, RequireRole(Role.APPROVER)]
From = Annotated[date | None, Query(alias="from")]
To = Annotated[date | None, Query(alias="to")]


def letterhead(settings: Settings) -> exports.Letterhead:
    return exports.Letterhead(parent=settings.report_parent, unit=settings.report_unit,
                              recipient=settings.report_recipient, place=settings.report_place)


def bundle(session: Session, settings: Settings, now: datetime, *, title: str, period: Period,
           with_days: bool = True, kind: str = "range", year: int | None = None,
           narrative: dict[str, str] | None = None) -> exports.Bundle:
    return exports.build(session, title=title, unit=settings.report_unit, period=period,
                         tz=zone(settings.timezone), now=now, with_days=with_days, kind=kind,
                         year=year, letterhead=letterhead(settings), narrative=narrative)


def periodic_bundle(session: Session, settings: Settings, now: datetime, kind: str,
                    year: int | None) -> tuple[exports.Bundle, ReportRecord | None]:
    """An issued report from its frozen record; otherwise the figures now, with the narrative stored so far."""
    title, period, year = periodic(settings, now, kind, year)
    row = record.find(session, kind=kind, year=year)
    if row is not None and row.issued_at is not None and row.snapshot is not None:
        return record.bundle_of(row.snapshot), row
    b = bundle(session, settings, now, title=title, period=period, kind=kind, year=year,
               narrative=row.narrative if row else None)
    return b, row


def download(body: str | bytes, *, name: str, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
PDF = "application/pdf"
FORMATS = ("pdf", "xlsx", "csv")


def render_file(b: exports.Bundle, fmt: str, *, today: date) -> bytes:
    """The report in one of FORMATS: one function for the API and the command line."""
    if fmt == "pdf":
        return pdf.to_pdf(b, today=today)
    if fmt == "xlsx":
        return exports.to_xlsx(b)
    if fmt == "csv":
        return exports.to_csv(b).encode()
    raise Invalid("format must be one of %(known)s", field="format", params={"known": ", ".join(FORMATS)})


def file_of(b: exports.Bundle, stem: str, fmt: str, *, today: date | None = None) -> Response:
    if fmt == "pdf":
        return download(pdf.to_pdf(b, today=today or b.period.end), name=f"{stem}.pdf", media_type=PDF)
    if fmt == "xlsx":
        return download(exports.to_xlsx(b), name=f"{stem}.xlsx", media_type=XLSX)
    if fmt == "csv":
        return download(exports.to_csv(b), name=f"{stem}.csv", media_type=CSV)
    raise Invalid("format must be one of %(known)s", field="format", params={"known": ", ".join(FORMATS)})


@router.get("/airtime")
def airtime(session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers, start: From = None,
            end: To = None, screen_id: Annotated[list[int] | None, Query()] = None,
            zone_name: Annotated[Literal["main", "ticker"], Query(alias="zone")] = "main") -> dict[str, Any]:
    """screen_id (repeatable) narrows the figures to those screens; zone=ticker gives the ticker's passes."""
    period = chosen_period(settings, now, start, end)
    return schemas.airtime_json(service.airtime(session, period=period, tz=zone(settings.timezone),
                                                screen_ids=screen_id,
                                                zone=service.TICKER if zone_name == "ticker" else None))


@router.get("/availability")
def availability(session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers, start: From = None,
                 end: To = None) -> dict[str, Any]:
    period = chosen_period(settings, now, start, end)
    rows = service.availability(session, period=period, tz=zone(settings.timezone), now=now)
    return {"period": schemas.period_json(period), "percent": service.fleet_percent(rows),
            "screens": schemas.availability_json(rows)}


@router.get("/due")
def due(settings: SettingsDep, now: NowDep, _user: Readers) -> list[dict[str, Any]]:
    return [schemas.due_json(d) for d in due_reports(report_calendar(settings), today=today(settings, now))]


@router.get("/range.{fmt}")
def range_file(fmt: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
               start: From = None, end: To = None) -> Response:
    period = chosen_period(settings, now, start, end)
    b = bundle(session, settings, now, title=range_title(period), period=period, with_days=fmt != "csv")
    return file_of(b, f"bao-cao-{period.start}-{period.end}", fmt, today=today(settings, now))


@router.get("/periodic/{kind}")
def periodic_json(kind: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
                  year: int | None = None) -> dict[str, Any]:
    b, row = periodic_bundle(session, settings, now, kind, year)
    return {"kind": kind, "year": b.year, "title": b.title, "unit": b.unit, "period": schemas.period_json(b.period),
            "period_words": period_words(b.period),
            "issued_at": b.issued_at.isoformat() if b.issued_at else None, "narrative": b.narrative,
            "airtime": schemas.airtime_json(b.airtime), "percent": b.fleet_percent,
            "ticker": schemas.airtime_json(b.ticker) if b.ticker else None,
            "availability": schemas.availability_json(b.availability),
            "not_counted": [{"screen_id": r.screen_id, "screen": r.screen, "site": r.site, "reason": r.reason}
                            for r in b.not_counted],
            "content": [record.encode(c) for c in b.content],
            "alerts": record.encode(b.alerts)}


@router.get("/periodic/{kind}/export.{fmt}")
def periodic_file(kind: str, fmt: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
                  year: int | None = None) -> Response:
    b, _row = periodic_bundle(session, settings, now, kind, year)
    return file_of(b, f"bao-cao-{kind.replace('_', '-')}-{b.year}", fmt, today=report_day(b, settings, now))


@router.put("/periodic/{kind}/narrative")
def periodic_narrative(kind: str, session: SessionDep, settings: SettingsDep, now: NowDep, user: Readers,
                       body: Annotated[dict[str, str], Body()], year: int | None = None) -> dict[str, Any]:
    """Store the narrative sections given (results, difficulties, proposals, next_steps); 409 once issued."""
    _title, period, year = periodic(settings, now, kind, year)
    row = record.save_narrative(session, actor=user, kind=kind, year=year, period=period, fields=body, now=now)
    return {"kind": kind, "year": year, "narrative": row.narrative}


@router.post("/periodic/{kind}/issue")
def periodic_issue(kind: str, session: SessionDep, settings: SettingsDep, now: NowDep, user: Issuers,
                   year: int | None = None) -> dict[str, Any]:
    """Freeze the report: later views, PDFs and files print the figures as they were now."""
    b, _row = periodic_bundle(session, settings, now, kind, year)
    row = record.issue(session, actor=user, kind=kind, year=b.year or 0, bundle=b, now=now)
    return {"kind": kind, "year": row.year, "issued_at": row.issued_at.isoformat() if row.issued_at else None}


@router.get("/slides/{slide_id}")
def slide_runs(slide_id: str, session: SessionDep, settings: SettingsDep, now: NowDep, _user: Readers,
               start: From = None, end: To = None) -> dict[str, Any]:
    period = chosen_period(settings, now, start, end)
    runs = service.slide_runs(session, slide_id=slide_id, period=period, tz=zone(settings.timezone))
    return {"slide_id": slide_id, "period": schemas.period_json(period), "runs": schemas.runs_json(runs)}


@router.get("/captions.{fmt}")
def captions_file(fmt: str, session: SessionDep, _user: CaptionReaders,
                  changed_since: Annotated[datetime | None, Query()] = None) -> Response:
    """The approved captions for the portals; `changed_since` (ISO 8601 with its zone) for polling."""
    if changed_since is not None and changed_since.tzinfo is None:
        raise Invalid("changed_since needs a time zone, e.g. 2026-05-20T08:00:00+07:00", field="changed_since")
    rows = service.approved_captions(session, changed_since=changed_since)
    if fmt == "csv":
        return download(exports.captions_csv(rows), name="captions.csv", media_type=CSV)
    if fmt == "json":
        return download(exports.captions_json(rows), name="captions.json", media_type="application/json")
    raise Invalid("format must be csv or json", field="format")
