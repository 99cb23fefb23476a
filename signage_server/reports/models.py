"""Presence history: availability over a period needs every online/offline change, not just the latest."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class PresenceEvent(SQLModel, table=True):
    __tablename__ = "presence_events"
    __table_args__ = (sa.Index("ix_presence_events_screen_at", "screen_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    screen_id: int = Field(foreign_key="screens.id", ondelete="CASCADE")
    state: str = Field(sa_type=sa.String(16))  # online | offline
    at: datetime = Field(sa_type=UTCDateTime)
    # status (retained status / last will), heartbeat (a beat brought it back), missed_heartbeats.
    source: str = Field(sa_type=sa.String(32))
