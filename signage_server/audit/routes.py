"""HTTP for reading the audit trail (there is no route that writes it)."""

from __future__ import annotations

from fastapi import APIRouter

from signage_server.audit import service
from signage_server.audit.schemas import AuditEventRead
from signage_server.deps import CurrentUser, SessionDep
from signage_server.pagination import Page, PageDep

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=Page[AuditEventRead])
def list_audit(session: SessionDep, user: CurrentUser, page: PageDep, entity: str | None = None,
               entity_id: str | None = None) -> Page[AuditEventRead]:
    items, total = service.list_events(session, actor=user, entity=entity, entity_id=entity_id,
                                       limit=page.limit, offset=page.offset)
    return Page(items=[AuditEventRead.model_validate(e) for e in items], total=total,
                limit=page.limit, offset=page.offset)
