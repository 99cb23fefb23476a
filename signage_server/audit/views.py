"""The audit log page: filter by user, object and date; export what is filtered as CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from signage_server.audit import service
from signage_server.audit.models import AuditEvent
from signage_server.deps import SessionDep
from signage_server.errors import Invalid, SignageError
from signage_server.users.models import Role, User
from signage_server.web import PageError, PageUser, Viewer, error_text, render

router = APIRouter(include_in_schema=False)
Readers = Annotated[Viewer, PageUser(Role.APPROVER)]
PAGE = 100
ENTITIES = ("user", "slide", "caption", "asset", "screen", "site", "screen_group", "playlist", "schedule",
            "api_token")


@dataclass(frozen=True)
class Filters:
    user: str = ""
    entity: str = ""
    entity_id: str = ""
    since: str = ""
    until: str = ""


def _day(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise Invalid(f"{field} must be a date like 2026-03-01", field=field) from None


def _filters(request: Request) -> Filters:
    q = request.query_params
    return Filters(**{k: q.get(k, "").strip()[:64] for k in ("user", "entity", "entity_id", "since", "until")})


def _query(session: Session, user: User, f: Filters, *, limit: int, offset: int) -> tuple[list[AuditEvent], int]:
    until = _day(f.until, "until")
    return service.list_events(session, actor=user, entity=f.entity or None, entity_id=f.entity_id or None,
                               actor_name=f.user or None, since=_day(f.since, "since"),
                               until=until + timedelta(days=1) if until else None, limit=limit, offset=offset)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, session: SessionDep, viewer: Readers, offset: int = 0) -> Response:
    f = _filters(request)
    offset = max(offset, 0)
    try:
        events, total = _query(session, viewer.user, f, limit=PAGE, offset=offset)
    except SignageError as exc:
        raise PageError(exc.status_code, error_text(request, exc)) from None
    return render(request, "audit.html", viewer, f=f, events=events, total=total, entities=ENTITIES,
                  query=urlencode({k: v for k, v in asdict(f).items() if v}), offset=offset, limit=PAGE,
                  more=offset + PAGE < total)


def _cell(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; a leading quote keeps them text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@router.get("/audit.csv")
def audit_csv(request: Request, session: SessionDep, viewer: Readers) -> Response:
    f = _filters(request)
    try:
        events, _total = _query(session, viewer.user, f, limit=100_000, offset=0)
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
