"""Report pages: period picker with due banners, the printable periodic report, where a slide ran."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from signage_server.deps import NowDep, SessionDep, SettingsDep
from signage_server.errors import SignageError
from signage_server.reports import exports, pdf, periods, record, routes, service
from signage_server.reports.calendar import Period, due_reports, zone
from signage_server.users.models import Role
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    allowed,
    error_text,
    gettext_for,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
Readers = Annotated[Viewer, PageUser(Role.OPERATOR, Role.APPROVER)]
# Translators see the page for its caption export only; figures stay with operators and approvers.
Visitors = Annotated[Viewer, PageUser(Role.OPERATOR, Role.APPROVER, Role.TRANSLATOR)]
Issuers = Annotated[Viewer, PageUser(Role.APPROVER)]
KIND_LABELS = {"half_year": "6-month report", "annual": "Annual report"}


def _date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise PageError(400, gettext_for(request)("Dates must look like 2026-05-20.")) from None


def _period(request: Request, settings: SettingsDep, now: NowDep) -> Period:
    try:
        return periods.chosen_period(settings, now, _date(request, "from"), _date(request, "to"))
    except SignageError as exc:
        raise PageError(exc.status_code, error_text(request, exc)) from None


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                 viewer: Visitors) -> Response:
    figures = allowed(viewer.user, (Role.OPERATOR, Role.APPROVER))
    period = _period(request, settings, now)
    due = due_reports(periods.report_calendar(settings), today=periods.today(settings, now)) if figures else []
    b = routes.bundle(session, settings, now, title=periods.range_title(period), period=period) if figures else None
    query = urlencode({"from": period.start.isoformat(), "to": period.end.isoformat()})
    return render(request, "reports.html", viewer, figures=figures, period=period, due=due, b=b, query=query,
                  kinds=KIND_LABELS, language_names=exports.LANGUAGE_NAMES,
                  outage_kinds=exports.OUTAGE_KINDS, tz=zone(settings.timezone),
                  charts=pdf.chart_set(b) if b else {})


def _year(request: Request) -> int | None:
    raw_year = request.query_params.get("year", "").strip()
    try:
        return int(raw_year) if raw_year else None
    except ValueError:
        raise PageError(400, gettext_for(request)("The year must be a number like 2026.")) from None


@router.get("/reports/periodic/{kind}", response_class=HTMLResponse)
def periodic_page(kind: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                  viewer: Readers) -> Response:
    try:
        b, _row = routes.periodic_bundle(session, settings, now, kind, _year(request))
    except SignageError as exc:
        raise PageError(exc.status_code, error_text(request, exc)) from None
    return render(request, "reports_periodic.html", viewer, kind=kind, year=b.year,
                  can_issue=allowed(viewer.user, (Role.APPROVER,)),
                  **pdf.context(b, today=periods.report_day(b, settings, now)))


@router.post("/reports/periodic/{kind}/narrative")
async def periodic_narrative(kind: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                             viewer: Readers) -> Response:
    _ = gettext_for(request)
    form = await request.form()
    fields = {key: str(form.get(key, "")) for key in exports.NARRATIVE}
    year = _year(request)
    try:
        _title, period, year = periods.periodic(settings, now, kind, year)
        with session.begin_nested():
            record.save_narrative(session, actor=viewer.user, kind=kind, year=year, period=period, fields=fields,
                                  now=now)
    except SignageError as exc:
        return redirect(request, f"/reports/periodic/{kind}?year={year or ''}", error_text(request, exc), "error")
    return redirect(request, f"/reports/periodic/{kind}?year={year}", _("The report text was saved."))


@router.post("/reports/periodic/{kind}/issue")
def periodic_issue(kind: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                   viewer: Issuers) -> Response:
    _ = gettext_for(request)
    year = _year(request)
    try:
        with session.begin_nested():
            b, _row = routes.periodic_bundle(session, settings, now, kind, year)
            year = b.year
            record.issue(session, actor=viewer.user, kind=kind, year=b.year or 0, bundle=b, now=now)
    except SignageError as exc:
        return redirect(request, f"/reports/periodic/{kind}?year={year or ''}", error_text(request, exc), "error")
    return redirect(request, f"/reports/periodic/{kind}?year={year}",
                    _("The report was issued: its figures are frozen."))


@router.get("/reports/slides/{slide_id}", response_class=HTMLResponse)
def slide_page(slide_id: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
               viewer: Readers) -> Response:
    period = _period(request, settings, now)
    tz = zone(settings.timezone)
    runs = service.slide_runs(session, slide_id=slide_id[:128], period=period, tz=tz)
    name = service.load_names(session).slide(slide_id[:128])
    return render(request, "reports_slide.html", viewer, slide_id=slide_id[:128], name=name, runs=runs,
                  period=period, tz=tz, language_names=exports.LANGUAGE_NAMES,
                  plays=sum(r.plays for r in runs), minutes=round(sum(r.seconds for r in runs) / 60, 2))
