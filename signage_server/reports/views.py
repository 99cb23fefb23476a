"""Report pages: period picker with due banners, the printable periodic report, where a slide ran."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from signage_server.deps import NowDep, SessionDep, SettingsDep
from signage_server.errors import SignageError
from signage_server.reports import charts, exports, routes, service
from signage_server.users.models import Role
from signage_server.web import PageError, PageUser, Viewer, allowed, error_text, gettext_for, render

router = APIRouter(include_in_schema=False)
Readers = Annotated[Viewer, PageUser(Role.OPERATOR, Role.APPROVER)]
# Translators see the page for its caption export only; figures stay with operators and approvers.
Visitors = Annotated[Viewer, PageUser(Role.OPERATOR, Role.APPROVER, Role.TRANSLATOR)]
KIND_LABELS = {"half_year": "6-month report", "annual": "Annual report"}


def _date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise PageError(400, gettext_for(request)("Dates must look like 2026-05-20.")) from None


def _period(request: Request, settings: SettingsDep, now: NowDep) -> service.Period:
    try:
        return routes.chosen_period(settings, now, _date(request, "from"), _date(request, "to"))
    except SignageError as exc:
        raise PageError(exc.status_code, error_text(request, exc)) from None


def _charts(b: exports.Bundle) -> dict[str, Markup]:
    return {
        "language": charts.bar_chart([(exports.LANGUAGE_NAMES.get(a.label, a.label), a.minutes)
                                            for a in b.airtime.by_language],
                                           title="Thời lượng phát theo ngôn ngữ (phút)", unit="phút"),
        "site": charts.bar_chart([(a.label, a.minutes) for a in b.airtime.by_site],
                                       title="Thời lượng phát theo cửa khẩu (phút)", unit="phút"),
        "days": charts.line_chart(b.by_day, title="Tỷ lệ hoạt động theo ngày (%)"),
    }


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                 viewer: Visitors) -> Response:
    figures = allowed(viewer.user, (Role.OPERATOR, Role.APPROVER))
    period = _period(request, settings, now)
    due = service.due_reports(routes.calendar(settings), today=routes.today(settings, now)) if figures else []
    b = routes.bundle(session, settings, now, title=exports.TITLES["range"], period=period) if figures else None
    query = urlencode({"from": period.start.isoformat(), "to": period.end.isoformat()})
    return render(request, "reports.html", viewer, figures=figures, period=period, due=due, b=b, query=query,
                  kinds=KIND_LABELS, language_names=exports.LANGUAGE_NAMES,
                  outage_kinds=exports.OUTAGE_KINDS, tz=service.zone(settings.report_timezone),
                  charts=_charts(b) if b else {})


@router.get("/reports/periodic/{kind}", response_class=HTMLResponse)
def periodic_page(kind: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                  viewer: Readers) -> Response:
    raw_year = request.query_params.get("year", "").strip()
    try:
        year = int(raw_year) if raw_year else None
        title, period, year = routes.periodic(settings, now, kind, year)
    except ValueError:
        raise PageError(400, gettext_for(request)("The year must be a number like 2026.")) from None
    except SignageError as exc:
        raise PageError(exc.status_code, error_text(request, exc)) from None
    b = routes.bundle(session, settings, now, title=title, period=period)
    return render(request, "reports_periodic.html", viewer, b=b, kind=kind, year=year, settings=settings,
                  today=routes.today(settings, now), language_names=exports.LANGUAGE_NAMES,
                  outage_kinds=exports.OUTAGE_KINDS, tz=b.tz,
                  half=kind == "half_year", charts=_charts(b))


@router.get("/reports/slides/{slide_id}", response_class=HTMLResponse)
def slide_page(slide_id: str, request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
               viewer: Readers) -> Response:
    period = _period(request, settings, now)
    tz = service.zone(settings.report_timezone)
    runs = service.slide_runs(session, slide_id=slide_id[:128], period=period, tz=tz)
    name = service.load_names(session).slide(slide_id[:128])
    return render(request, "reports_slide.html", viewer, slide_id=slide_id[:128], name=name, runs=runs,
                  period=period, tz=tz, language_names=exports.LANGUAGE_NAMES,
                  plays=sum(r.plays for r in runs), minutes=round(sum(r.seconds for r in runs) / 60, 2))
