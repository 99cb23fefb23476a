"""Periodic reports as records: the narrative, and once issued the frozen figures."""

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class ReportRecord(SQLModel, table=True):
    """A periodic report as a record: the department's narrative, and once issued its frozen figures.

    Until issued the figures are computed afresh on each view; issuing stores them (`snapshot`, the whole
    report as JSON) so that the signed copy can be printed again, identical, years later.
    """

    __tablename__ = "report_records"
    __table_args__ = (sa.UniqueConstraint("kind", "year", name="uq_report_records_kind_year"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=sa.String(16))  # half_year | annual
    year: int
    period_start: date
    period_end: date
    # {"results": ..., "difficulties": ..., "proposals": ..., "next_steps": ...}
    narrative: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    issued_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    snapshot: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
