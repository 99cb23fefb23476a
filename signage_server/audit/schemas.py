"""API shape for audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from signage_server.schemas import OutputModel


class AuditEventRead(OutputModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
