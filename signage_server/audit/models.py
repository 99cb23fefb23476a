"""The append-only record of who changed what, when, from what to what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapper
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    # No foreign key: the record outlives whatever it describes, users included.
    actor_id: int | None = Field(default=None, index=True)
    actor_name: str = Field(sa_type=sa.String(64))
    action: str = Field(sa_type=sa.String(64))
    entity: str = Field(sa_type=sa.String(32), index=True)
    entity_id: str = Field(sa_type=sa.String(64), index=True)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)


class AuditImmutable(RuntimeError):
    """Raised when code tries to change history: a programming error, never user input."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper: Mapper[AuditEvent], _conn: sa.Connection, target: AuditEvent) -> None:
    raise AuditImmutable(f"audit event {target.id} is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper: Mapper[AuditEvent], _conn: sa.Connection, target: AuditEvent) -> None:
    raise AuditImmutable(f"audit event {target.id} is append-only")
