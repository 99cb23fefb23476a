"""When a playlist plays, and where: the rule itself is signage_core's ScheduleRule, as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class ScheduleScreenLink(SQLModel, table=True):
    __tablename__ = "schedule_screen_links"

    schedule_id: int = Field(foreign_key="schedules.id", primary_key=True, ondelete="CASCADE")
    screen_id: int = Field(foreign_key="screens.id", primary_key=True, ondelete="CASCADE")


class ScheduleGroupLink(SQLModel, table=True):
    __tablename__ = "schedule_group_links"

    schedule_id: int = Field(foreign_key="schedules.id", primary_key=True, ondelete="CASCADE")
    group_id: int = Field(foreign_key="screen_groups.id", primary_key=True, ondelete="CASCADE")


class Schedule(SQLModel, table=True):
    __tablename__ = "schedules"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(100), unique=True, index=True)
    playlist_id: int = Field(foreign_key="playlists.id", index=True)
    # Higher wins when two schedules cover the same screen and moment.
    priority: int = 0
    rule: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
