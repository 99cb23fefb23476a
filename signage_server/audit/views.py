"""The audit log page: filter by user, object and date; export what is filtered as CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, select

from signage_server.audit import service
from signage_server.audit.models import AuditEvent
from signage_server.deps import SessionDep
from signage_server.errors import Invalid, SignageError
from signage_server.i18n.errors import CODED_FIELDS, FIELD_LABELS, field_label
from signage_server.playlists.models import Playlist
from signage_server.schedules.models import Schedule
from signage_server.screens.models import Screen, ScreenGroup, Site
from signage_server.slides.models import Slide
from signage_server.users.models import Role, User
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    local_zone,
    render,
)

router = APIRouter(include_in_schema=False)
Readers = Annotated[Viewer, PageUser(Role.APPROVER)]
PAGE = 100
# Object types as the filter offers them, with their names (catalog msgids).
ENTITIES = {"user": "User", "slide": "Slide", "caption": "Caption", "asset": "Picture", "screen": "Screen",
            "site": "Site", "screen_group": "Screen group", "playlist": "Playlist", "schedule": "Schedule",
            "api_token": "API token", "alert": "Urgent alert", "report": "Report", "feed": "Data feed",
            "alert_template": "Alert template"}
# Action codes (the API and the CSV keep them) -> what the page says (catalog msgids).
ACTIONS = {
    "user.create": "User created", "user.update": "User changed", "user.password_change": "Password changed",
    "user.login": "Logged in", "user.logout": "Logged out", "token.create": "API token issued",
    "token.revoke": "API token revoked", "slide.create": "Slide added", "slide.update": "Slide changed",
    "slide.delete": "Slide deleted", "slide.approve": "Slide approved",
    "slide.approval_withdrawn": "Slide approval withdrawn", "slide.retire": "Slide retired",
    "slide.restore": "Slide restored", "site.create": "Site added", "site.update": "Site changed",
    "site.delete": "Site deleted", "screen.create": "Screen added", "screen.update": "Screen changed",
    "screen.delete": "Screen deleted", "screen.pending": "Screen waiting for enrolment",
    "screen.enrolled": "Screen enrolled", "screen.revoked": "Screen revoked", "schedule.create": "Schedule added",
    "schedule.update": "Schedule changed", "schedule.delete": "Schedule deleted", "playlist.create": "Playlist added",
    "playlist.update": "Playlist changed", "playlist.delete": "Playlist deleted", "group.create": "Screen group added",
    "group.update": "Screen group changed", "group.delete": "Screen group deleted",
    "enrolment.code_issue": "Enrolment code issued", "enrolment.code_use": "Enrolment code used",
    "caption.create": "Caption written", "caption.edit": "Caption edited", "caption.submit": "Caption sent for approval",
    "caption.return": "Caption returned for changes", "caption.approve": "Caption approved",
    "caption.discard": "Unapproved caption set aside", "caption.retire": "Caption replaced by a newer approved text",
    "report.narrative": "Report text saved", "report.issue": "Report issued",
    "asset.create": "Picture uploaded", "alert.launch": "Urgent alert launched",
    "alert.withdraw": "Urgent alert withdrawn", "alert_template.cover": "Alert template coverage changed",
    "brightness.plan": "Brightness plan changed", "brightness.override": "Brightness override changed",
    "feed.create": "Data feed added", "feed.update": "Data feed changed", "feed.delete": "Data feed deleted",
}
# Bookkeeping columns every row carries: listing them as changes would bury the real ones.
_QUIET = frozenset({"id", "updated_at", "created_at", "version"})


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _text(value: Any, gettext: Callable[[str], str], zone: ZoneInfo | None = None) -> str:
    """A stored value as a person reads it: text as text, lists joined, no JSON escapes, an instant (stored
    in UTC) in the page's local time."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, str) and zone is not None and _INSTANT.match(value):
        return datetime.fromisoformat(value).astimezone(zone).strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return "; ".join(f"{field_label(str(k), gettext)}: {_text(v, gettext)}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# Stored user ids the change view names by the person (the pages' display name).
_PERSON_FIELDS = frozenset({"approved_by_id", "created_by_id", "retired_by_id", "author_id"})


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None,
            gettext: Callable[[str], str], zone: ZoneInfo | None = None,
            people: dict[int, str] | None = None) -> list[Change]:
    """Field: before → after for each field that differs, labelled in the page's language."""
    old, new = before or {}, after or {}
    keys = [k for k in dict.fromkeys([*new, *old]) if old.get(k) != new.get(k)]
    shown = [k for k in keys if k not in _QUIET] or keys
    def shown_value(key: str, value: Any) -> str:
        if key in CODED_FIELDS and isinstance(value, str) and value:
            return gettext(value)
        if key in _PERSON_FIELDS and isinstance(value, int) and people and value in people:
            return people[value]
        return _text(value, gettext, zone)

    return [Change(field_label(k, gettext) if k in FIELD_LABELS else k, shown_value(k, old.get(k)),
                   shown_value(k, new.get(k))) for k in shown]


@dataclass(frozen=True)
class Filters:
    user: str = ""
    entity: str = ""
    entity_id: str = ""
    since: str = ""
    until: str = ""


def _day(value: str, field: str, zone: ZoneInfo) -> datetime | None:
    """The start of a local calendar day (the page shows local times, so its dates are local too)."""
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=zone)
    except ValueError:
        raise Invalid("%(field)s must be a date like 2026-03-01", field=field, params={"field": field}) from None


def _filters(request: Request) -> Filters:
    q = request.query_params
    return Filters(**{k: q.get(k, "").strip()[:64] for k in ("user", "entity", "entity_id", "since", "until")})


def _query(session: Session, user: User, f: Filters, zone: ZoneInfo, *, limit: int,
           offset: int) -> tuple[list[AuditEvent], int]:
    until = _day(f.until, "until", zone)
    return service.list_events(session, actor=user, entity=f.entity or None, entity_id=f.entity_id or None,
                               actor_name=f.user or None, since=_day(f.since, "since", zone),
                               until=until + timedelta(days=1) if until else None, limit=limit, offset=offset)


def _object_names(session: Session, events: list[AuditEvent]) -> dict[tuple[str, str], str]:
    """(entity, id) -> the name a person reads (display name, else identifier) for the objects on this page;
    one query per kind. A deleted object keeps its number only."""
    tables: dict[str, Any] = {"screen": Screen, "screen_group": ScreenGroup, "playlist": Playlist, "slide": Slide,
                              "site": Site, "schedule": Schedule, "user": User}
    wanted: dict[str, set[int]] = {}
    for e in events:
        if e.entity in tables and str(e.entity_id).isdigit():
            wanted.setdefault(e.entity, set()).add(int(e.entity_id))
    names: dict[tuple[str, str], str] = {}
    for entity, ids in wanted.items():
        table = tables[entity]
        for row in session.exec(select(table).where(table.id.in_(ids))).all():
            label = getattr(row, "label", None) or getattr(row, "display_name", "") or getattr(row, "name", "")
            names[(entity, str(row.id))] = str(label or getattr(row, "username", ""))
    return names


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, viewer: Readers, offset: int = 0) -> Response:
    f = _filters(request)
    offset = max(offset, 0)
    try:
        events, total = _query(session, viewer.user, f, local_zone(request), limit=PAGE, offset=offset)
    except SignageError as exc:
        raise PageError(exc.status_code, error_text(request, exc)) from None
    _ = gettext_for(request)
    # People by the name the pages call them (the username is the filter's value and a hover hint).
    everyone = session.exec(select(User)).all()
    people = {u.username: u.display_name or u.username for u in everyone}
    by_id = {u.id: u.display_name or u.username for u in everyone if u.id is not None}
    rows = [(e, _(ACTIONS[e.action]) if e.action in ACTIONS else e.action,
             _(ENTITIES[e.entity]) if e.entity in ENTITIES else e.entity,
             changes(e.before, e.after, _, local_zone(request), by_id)) for e in events]
    return render(request, "audit.html", viewer, f=f, rows=rows, total=total,
                  entities=sorted(((k, _(v)) for k, v in ENTITIES.items()), key=lambda kv: kv[1]),
                  users=service.actor_names(session), people=people, names=_object_names(session, events),
                  query=urlencode({k: v for k, v in asdict(f).items() if v}), offset=offset, limit=PAGE,
                  more=offset + PAGE < total)


def _cell(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; a leading quote keeps them text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get("/audit.csv")
def audit_csv(request: Request, session: SessionDep, viewer: Readers) -> Response:
    f = _filters(request)
    try:
        events, _total = _query(session, viewer.user, f, local_zone(request), limit=100_000, offset=0)
    except SignageError as exc:
        raise PageError(exc.status_code, error_text(request, exc)) from None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "user", "action", "entity", "entity_id", "before", "after"])
    for e in events:
        writer.writerow([e.at.isoformat(), _cell(e.actor_name), _cell(e.action), e.entity, _cell(e.entity_id),
                         _cell(json.dumps(e.before, ensure_ascii=False) if e.before else ""),
                         _cell(json.dumps(e.after, ensure_ascii=False) if e.after else "")])
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
