"""API shapes for schedules; `rule` is signage_core's ScheduleRule minus id, playlist_id and priority."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from signage_server.schemas import InputModel, OutputModel


class ScheduleCreate(InputModel):
    name: str = Field(max_length=100)
    playlist_id: int
    priority: int = 0
    rule: dict[str, Any] = Field(default_factory=dict)
    screen_ids: list[int] = Field(default_factory=list, max_length=500)
    group_ids: list[int] = Field(default_factory=list, max_length=100)


class ScheduleUpdate(InputModel):
    name: str | None = Field(default=None, max_length=100)
    playlist_id: int | None = None
    priority: int | None = None
    rule: dict[str, Any] | None = None
    screen_ids: list[int] | None = Field(default=None, max_length=500)
    group_ids: list[int] | None = Field(default=None, max_length=100)


class ScheduleRead(OutputModel):
    id: int
    name: str
    playlist_id: int
    priority: int
    rule: dict[str, Any]
    screen_ids: list[int]
    group_ids: list[int]
    created_at: datetime
    updated_at: datetime


class TimelineSegment(OutputModel):
    start: datetime
    end: datetime
    playlist_ids: list[int]
    schedule_ids: list[int]
    priority: int | None
    is_default: bool
    lunar_date: str
    calendar_dates: list[str]


class TimelineRead(OutputModel):
    screen_id: int
    segments: list[TimelineSegment]
    conflicts: list[TimelineSegment]
