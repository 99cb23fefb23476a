"""Writing and reading the audit trail; the only code that touches AuditEvent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from signage_server.audit.models import AuditEvent
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.users.models import Role, User

# Never copied into the trail: it is readable by admins and approvers.
_SECRET_FIELDS = frozenset({"password_hash", "token_hash", "csrf_token"})


def snapshot(row: SQLModel | None) -> dict[str, Any] | None:
    """A JSON-safe copy of a row's columns for the before/after of an event."""
    if row is None:
        return None
    return row.model_dump(mode="json", exclude=set(_SECRET_FIELDS))


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    now: datetime,
) -> AuditEvent:
    """Append one event; actor None means the system (CLI import, migrations)."""
    event = AuditEvent(
        at=now,
        actor_id=actor.id if actor else None,
        actor_name=actor.username if actor else "system",
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before,
        after=after,
    )
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session,
    *,
    actor: User,
    entity: str | None = None,
    entity_id: str | None = None,
    actor_name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEvent], int]:
    """Newest first; admins and approvers read the trail, nobody edits it."""
    require_role(actor, Role.ADMIN, Role.APPROVER)
    query = select(AuditEvent)
    if actor_name is not None:
        query = query.where(AuditEvent.actor_name == actor_name)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if until is not None:
        query = query.where(col(AuditEvent.at) < until)
    if entity is not None:
        query = query.where(AuditEvent.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    return paginate(session, query, limit=limit, offset=offset)


def actor_names(session: Session) -> list[str]:
    """Everyone who appears in the trail, for the page's user filter."""
    return sorted(set(session.exec(select(AuditEvent.actor_name).distinct()).all()))
