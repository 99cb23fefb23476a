"""The week calendar per screen: what will play, lunar-date events labelled, equal-priority conflicts shown."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from signage_core.schedule import TIMEZONE, from_local, to_local
from signage_server.db import saved_id
from signage_server.deps import NowDep, SessionDep
from signage_server.errors import Invalid, NotFound, SignageError
from signage_server.playlists.models import Playlist
from signage_server.schedules import service
from signage_server.schedules.models import Schedule
from signage_server.screens.models import Screen
from signage_server.users.models import Role
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
Planners = Annotated[Viewer, PageUser(Role.OPERATOR, Role.APPROVER)]


@dataclass(frozen=True)
class Block:
    """One stretch clipped to one local day, as a calendar cell lists it."""

    start: str
    end: str
    playlists: list[str]
    schedules: list[str]
    priority: int | None
    is_default: bool
    conflict: bool
    lunar_date: str
    calendar_dates: list[str]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@router.get("/screens/{screen_id}/calendar", response_class=HTMLResponse)
def calendar(screen_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Planners,
             week: Annotated[date | None, Query()] = None) -> Response:
    """Monday to Sunday in the site's time zone (the evaluator's), from the timeline service.

    Each day header carries that day's lunar date; stretches are clipped to the screen's on-hours (the
    reports' on_hours), since nothing is seen while the screen is off.
    """
    from signage_server.reports.intervals import on_hours

    _ = gettext_for(request)
    screen = session.get(Screen, screen_id)
    if screen is None:
        raise PageError(404, _("No such screen."))
    first = _monday(week or to_local(now).date())
    start = from_local(datetime.combine(first, datetime.min.time()))
    days = [first + timedelta(days=i) for i in range(7)]
    try:
        timeline = service.screen_timeline(session, screen_id=screen_id, start=start, end=start + timedelta(days=7),
                                           split_days=True)
    except SignageError as exc:
        raise PageError(400, error_text(request, exc)) from None
    awake = on_hours(screen, start=start, end=start + timedelta(days=7), tz=TIMEZONE)
    playlists = {p.id: p.label for p in session.exec(select(Playlist)).all()}
    schedule_names = {s.id: s.name for s in session.exec(select(Schedule)).all()}
    by_day: dict[date, list[Block]] = {d: [] for d in days}
    for entry in timeline.entries:
        for on_lo, on_hi in awake:
            lo_utc, hi_utc = max(entry.start, on_lo), min(entry.end, on_hi)
            if lo_utc >= hi_utc:
                continue
            lo, hi = to_local(lo_utc), to_local(hi_utc)
            day = lo.date()
            if day not in by_day:
                continue
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time())
            by_day[day].append(Block(
                start=lo.strftime("%H:%M"), end="24:00" if hi == midnight else hi.strftime("%H:%M"),
                playlists=[playlists.get(p, _("(no default playlist)") if p == 0 else f"#{p}")
                           for p in entry.playlist_ids],
                schedules=[schedule_names.get(s, f"#{s}") for s in entry.schedule_ids],
                priority=entry.priority, is_default=entry.is_default, conflict=len(entry.playlist_ids) > 1,
                lunar_date=entry.lunar_date, calendar_dates=entry.calendar_dates))
    hours = (f"{screen.on_time.strftime('%H:%M')}–{screen.off_time.strftime('%H:%M')}"
             if screen.on_time is not None and screen.off_time is not None else None)
    return render(request, "calendar.html", viewer, screen=screen, days=days, by_day=by_day,
                  lunar={d: service.lunar_label(d) for d in days}, on_hours=hours,
                  previous=first - timedelta(days=7), next=first + timedelta(days=7),
                  conflicts=len({(e.start, e.end) for e in timeline.conflicts}), today=to_local(now).date())


Editors = Annotated[Viewer, PageUser(Role.OPERATOR)]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Each calendar as people write it: the English words, Vietnamese with or without "lịch", the short forms.
_DATE_KINDS = {"lunar": "lunar", "âm lịch": "lunar", "âm": "lunar", "al": "lunar",
               "solar": "solar", "dương lịch": "solar", "dương": "solar", "dl": "solar"}
_DATE_LINE = re.compile(r"^\s*(?P<kind>[^\d]+?)\s*(?P<day>\d{1,2})\s*/\s*(?P<month>\d{1,2})\s*$")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _windows(text: str) -> list[dict[str, str]]:
    """'22:00-02:00' per line; an end before the start runs past midnight (the rule model's overnight window)."""
    out = []
    for line in _lines(text):
        start, sep, end = line.replace("–", "-").partition("-")
        if not sep or not start.strip() or not end.strip():
            raise Invalid("time window %(line)s must look like 06:00-22:00", field="windows", params={"line": repr(line)})
        out.append({"start": start.strip(), "end": end.strip()})
    return out


def parse_date_line(line: str) -> dict[str, object]:
    """'lunar 15/1', 'solar 30/4', 'âm lịch 1/1', 'dương lịch 30/4' (what the pages print reads back)."""
    found = _DATE_LINE.match(unicodedata.normalize("NFC", line))
    kind = _DATE_KINDS.get(" ".join(found["kind"].lower().split())) if found else None
    if found is None or kind is None:
        raise Invalid("date %(line)s must look like 'lunar 15/1' or 'solar 30/4'", field="dates",
                      params={"line": repr(line)})
    return {"kind": kind, "day": int(found["day"]), "month": int(found["month"])}


def _dates(text: str) -> list[dict[str, object]]:
    return [parse_date_line(line) for line in _lines(text)]


def rule_from_form(*, start_date: str, end_date: str, weekdays: list[int], windows: str, dates: str) -> dict[str, object]:
    """The page's fields as the schedules rule model; the service validates it fully."""
    rule: dict[str, object] = {}
    if start_date.strip():
        rule["start_date"] = start_date.strip()
    if end_date.strip():
        rule["end_date"] = end_date.strip()
    if weekdays:
        rule["weekdays"] = sorted(set(weekdays))
    if windows.strip():
        rule["windows"] = _windows(windows)
    if dates.strip():
        rule["dates"] = _dates(dates)
    return rule


def _describe(rule: dict[str, Any], weekday_names: list[str]) -> list[str]:
    parts = []
    if rule.get("start_date") or rule.get("end_date"):
        parts.append(f"{rule.get('start_date') or '…'} → {rule.get('end_date') or '…'}")
    if isinstance(rule.get("weekdays"), list):
        parts.append(", ".join(weekday_names[int(d)] for d in rule["weekdays"]))
    for w in rule.get("windows") or []:
        parts.append(f"{str(w['start'])[:5]}–{str(w['end'])[:5]}")
    for d in rule.get("dates") or []:
        parts.append(f"{'âm lịch' if d['kind'] == 'lunar' else 'dương lịch'} {d['day']}/{d['month']}")
    return parts


def _choices(request: Request, session: SessionDep) -> dict[str, Any]:
    """What the schedule form offers: playlists, screens, groups, weekday names."""
    from signage_server.screens import service as screens

    _ = gettext_for(request)
    all_screens, _n = screens.list_screens(session, limit=1000, offset=0)
    groups, _m = screens.list_groups(session, limit=1000, offset=0)
    playlists = session.exec(select(Playlist).order_by(col(Playlist.name))).all()
    return {"playlists": playlists, "screens": all_screens, "groups": groups,
            "weekday_names": list(enumerate(_(d) for d in WEEKDAYS))}


@router.get("/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, session: SessionDep, viewer: Editors) -> Response:
    return _list_page(request, session, viewer, {}, {})


def _list_page(request: Request, session: SessionDep, viewer: Viewer, values: dict[str, Any],
               errors: dict[str, str], status_code: int = 200) -> Response:
    """The list with the new-schedule form; after a refusal the form shows what was typed and why."""
    found, _total = service.list_schedules(session, limit=1000, offset=0)
    choices = _choices(request, session)
    names = [name for _i, name in choices["weekday_names"]]
    rows = [(s, _describe(s.rule, names), service.targets_of(session, schedule_id=saved_id(s))) for s in found]
    return render(request, "schedules.html", viewer, status_code=status_code, rows=rows, values=values,
                  errors=errors, screen_names={s.id: s.label for s in choices["screens"]},
                  group_names={g.id: g.label for g in choices["groups"]},
                  playlist_names={p.id: p.label for p in choices["playlists"]}, **choices)


@router.post("/schedules", response_class=HTMLResponse)
def create_schedule(request: Request, session: SessionDep, now: NowDep, viewer: Editors,
                    name: Annotated[str, Form(max_length=1000)] = "", playlist_id: Annotated[str, Form()] = "",
                    priority: Annotated[str, Form(max_length=20)] = "0", start_date: Annotated[str, Form()] = "",
                    end_date: Annotated[str, Form()] = "", weekdays: Annotated[list[str] | None, Form()] = None,
                    windows: Annotated[str, Form(max_length=2000)] = "",
                    dates: Annotated[str, Form(max_length=2000)] = "",
                    screen_ids: Annotated[list[str] | None, Form()] = None,
                    group_ids: Annotated[list[str] | None, Form()] = None) -> Response:
    """Fields arrive as text so any mistake re-renders the form with everything typed, not an empty one."""
    values = {"name": name, "playlist_id": playlist_id, "priority": priority, "start_date": start_date,
              "end_date": end_date, "weekdays": weekdays or [], "windows": windows, "dates": dates,
              "screen_ids": screen_ids or [], "group_ids": group_ids or []}
    try:
        fields = _fields(name=name, playlist_id=playlist_id, priority=priority, start_date=start_date,
                         end_date=end_date, weekdays=weekdays or [], windows=windows, dates=dates)
        with session.begin_nested():
            service.create_schedule(session, actor=viewer.user, now=now,
                                    screen_ids=_ids(screen_ids or [], "screen_ids"),
                                    group_ids=_ids(group_ids or [], "group_ids"), fields=fields)
    except SignageError as exc:
        return _list_page(request, session, viewer, values, {field_of(exc): error_text(request, exc)},
                          status_code=exc.status_code)
    return redirect(request, "/schedules", gettext_for(request)("Schedule saved."))


@router.post("/schedules/{schedule_id}/delete")
def delete_schedule(schedule_id: int, request: Request, session: SessionDep, now: NowDep,
                    viewer: Editors) -> Response:
    try:
        with session.begin_nested():
            service.delete_schedule(session, actor=viewer.user, schedule_id=schedule_id, now=now)
    except SignageError as exc:
        return redirect(request, "/schedules", error_text(request, exc), "error")
    return redirect(request, "/schedules", gettext_for(request)("Schedule deleted."))


def form_values(schedule: Schedule, screen_ids: list[int], group_ids: list[int]) -> dict[str, Any]:
    """A stored schedule as the form's strings, the inverse of rule_from_form."""
    rule = schedule.rule
    return {
        "name": schedule.name, "playlist_id": str(schedule.playlist_id), "priority": str(schedule.priority),
        "start_date": rule.get("start_date") or "", "end_date": rule.get("end_date") or "",
        "weekdays": [str(d) for d in rule.get("weekdays") or []],
        "windows": "\n".join(f"{str(w['start'])[:5]}-{str(w['end'])[:5]}" for w in rule.get("windows") or []),
        "dates": "\n".join(f"{d['kind']} {d['day']}/{d['month']}" for d in rule.get("dates") or []),
        "screen_ids": [str(i) for i in screen_ids], "group_ids": [str(i) for i in group_ids],
    }


# The form field an error belongs to, from the service's `field` (rule.* comes from the rule model).
_RULE_FIELDS = {"start_date", "end_date", "weekdays", "windows", "dates"}


def field_of(exc: SignageError) -> str:
    if isinstance(exc, NotFound):
        return {"playlist": "playlist_id", "screen": "screen_ids", "screen group": "group_ids"}.get(
            str(exc.details.get("entity")), "form")
    field = str(exc.details.get("field") or "")
    head, _dot, rest = field.partition(".")
    if head == "rule":
        sub = rest.partition(".")[0]
        # A rule-wide error is the date range (end before start), the one cross-field check the model has.
        return sub if sub in _RULE_FIELDS else "end_date"
    if head in {"name", "playlist_id", "priority", "screen_ids", "group_ids", *_RULE_FIELDS}:
        return head
    return "form"


def _int(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise Invalid("%(field)s must be a whole number", field=field, params={"field": field}) from None


def _ids(values: list[str], field: str) -> list[int]:
    return [_int(v, field) for v in values if v.strip()]


def _fields(*, name: str, playlist_id: str, priority: str, start_date: str, end_date: str, weekdays: list[str],
            windows: str, dates: str) -> dict[str, Any]:
    """The form's text as the service's fields; a mistake raises Invalid naming the form field."""
    if not name.strip():
        raise Invalid("name is required", field="name")
    return {"name": name.strip(), "playlist_id": _int(playlist_id, "playlist_id"), "priority": _int(priority, "priority"),
            "rule": rule_from_form(start_date=start_date, end_date=end_date, weekdays=_ids(weekdays, "weekdays"),
                                   windows=windows, dates=dates)}


def _schedule(request: Request, session: SessionDep, schedule_id: int) -> Schedule:
    try:
        return service.get_schedule(session, schedule_id=schedule_id)
    except NotFound:
        raise PageError(404, gettext_for(request)("No such schedule.")) from None


def _edit_page(request: Request, session: SessionDep, viewer: Viewer, schedule: Schedule, values: dict[str, Any],
               errors: dict[str, str], status_code: int = 200) -> Response:
    targets = service.screens_of_schedule(session, schedule_id=saved_id(schedule))
    choices = _choices(request, session)
    return render(request, "schedule.html", viewer, status_code=status_code, schedule=schedule, values=values,
                  errors=errors, target_screens=sorted(targets),
                  screen_names={s.id: s.label for s in choices["screens"]}, **choices)


@router.get("/schedules/{schedule_id}", response_class=HTMLResponse)
def edit_schedule_page(schedule_id: int, request: Request, session: SessionDep, viewer: Editors) -> Response:
    schedule = _schedule(request, session, schedule_id)
    screen_ids, group_ids = service.targets_of(session, schedule_id=schedule_id)
    return _edit_page(request, session, viewer, schedule, form_values(schedule, screen_ids, group_ids), {})


@router.post("/schedules/{schedule_id}", response_class=HTMLResponse)
def update_schedule(schedule_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Editors,
                    name: Annotated[str, Form(max_length=1000)] = "", playlist_id: Annotated[str, Form()] = "",
                    priority: Annotated[str, Form(max_length=20)] = "0", start_date: Annotated[str, Form()] = "",
                    end_date: Annotated[str, Form()] = "", weekdays: Annotated[list[str] | None, Form()] = None,
                    windows: Annotated[str, Form(max_length=2000)] = "",
                    dates: Annotated[str, Form(max_length=2000)] = "",
                    screen_ids: Annotated[list[str] | None, Form()] = None,
                    group_ids: Annotated[list[str] | None, Form()] = None) -> Response:
    """Everything the new-schedule form sets, through the API's own update_schedule (audit, recompile).

    Fields arrive as text and are checked here or by the service, so a mistake re-renders the form, not JSON.
    """
    schedule = _schedule(request, session, schedule_id)
    values = {"name": name, "playlist_id": playlist_id, "priority": priority, "start_date": start_date,
              "end_date": end_date, "weekdays": weekdays or [], "windows": windows, "dates": dates,
              "screen_ids": screen_ids or [], "group_ids": group_ids or []}
    try:
        fields = _fields(name=name, playlist_id=playlist_id, priority=priority, start_date=start_date,
                         end_date=end_date, weekdays=weekdays or [], windows=windows, dates=dates)
        with session.begin_nested():
            service.update_schedule(session, actor=viewer.user, schedule_id=schedule_id, fields=fields,
                                    screen_ids=_ids(screen_ids or [], "screen_ids"),
                                    group_ids=_ids(group_ids or [], "group_ids"), now=now)
    except SignageError as exc:
        session.expire(schedule)  # show the stored name in the heading, not the refused one
        return _edit_page(request, session, viewer, schedule, values, {field_of(exc): error_text(request, exc)},
                          status_code=exc.status_code)
    return redirect(request, "/schedules", gettext_for(request)("Schedule saved."))
