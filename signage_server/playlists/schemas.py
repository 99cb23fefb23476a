"""API shapes for playlists."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from signage_server.schemas import InputModel, OutputModel


class ItemIn(InputModel):
    slide_id: int
    duration_s: float


class PlaylistCreate(InputModel):
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=500)
    items: list[ItemIn] = Field(default_factory=list, max_length=500)


class PlaylistUpdate(InputModel):
    name: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    items: list[ItemIn] | None = Field(default=None, max_length=500)


class ItemRead(OutputModel):
    slide_id: int
    position: int
    duration_s: float


class PlaylistRead(OutputModel):
    id: int
    name: str
    description: str
    items: list[ItemRead]
    created_at: datetime
    updated_at: datetime
