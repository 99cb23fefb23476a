"""The week calendar per screen: what will play, lunar-date events labelled, equal-priority conflicts shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import select

from signage_core.schedule import from_local, to_local
from signage_server.deps import NowDep, SessionDep
from signage_server.errors import SignageError
from signage_server.playlists.models import Playlist
from signage_server.schedules import service
from signage_server.schedules.models import Schedule
from signage_server.screens.models import Screen
from signage_server.users.models import Role
from signage_server.web import PageError, PageUser, Viewer, error_text, gettext_for, render

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
    """Monday to Sunday in the site's time zone (the evaluator's), from the timeline service."""
    _ = gettext_for(request)
    screen = session.get(Screen, screen_id)
    if screen is None:
        raise PageError(404, _("No such screen."))
    first = _monday(week or to_local(now).date())
    start = from_local(datetime.combine(first, datetime.min.time()))
    days = [first + timedelta(days=i) for i in range(7)]
    try:
        timeline = service.screen_timeline(session, screen_id=screen_id, start=start, end=start + timedelta(days=7))
    except SignageError as exc:
        raise PageError(400, error_text(request, exc)) from None
    playlists = {p.id: p.name for p in session.exec(select(Playlist)).all()}
    schedule_names = {s.id: s.name for s in session.exec(select(Schedule)).all()}
    by_day: dict[date, list[Block]] = {d: [] for d in days}
    for entry in timeline.entries:
        local_start, local_end = to_local(entry.start), to_local(entry.end)
        for day in days:
            day_start = datetime.combine(day, datetime.min.time())  # naive local, like to_local()
            lo, hi = max(local_start, day_start), min(local_end, day_start + timedelta(days=1))
            if lo >= hi:
                continue
            by_day[day].append(Block(
                start=lo.strftime("%H:%M"), end="24:00" if hi == day_start + timedelta(days=1) else hi.strftime("%H:%M"),
                playlists=[playlists.get(p, _("(no default playlist)") if p == 0 else f"#{p}")
                           for p in entry.playlist_ids],
                schedules=[schedule_names.get(s, f"#{s}") for s in entry.schedule_ids],
                priority=entry.priority, is_default=entry.is_default, conflict=len(entry.playlist_ids) > 1,
                lunar_date=entry.lunar_date, calendar_dates=entry.calendar_dates))
    return render(request, "calendar.html", viewer, screen=screen, days=days, by_day=by_day,
                  previous=first - timedelta(days=7), next=first + timedelta(days=7),
                  conflicts=len(timeline.conflicts), today=to_local(now).date())
