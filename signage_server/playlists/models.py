"""Ordered lists of slides with how long each stays on screen."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class Playlist(SQLModel, table=True):
    __tablename__ = "playlists"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(100), unique=True, index=True)
    # What the pages show ("Hoa Lư – chương trình chính"); empty: the name (migration 0012).
    display_name: str = Field(default="", sa_type=sa.String(200), sa_column_kwargs={"server_default": ""})
    description: str = Field(default="", sa_type=sa.String(500))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def label(self) -> str:
        """What a person reads: the display name, else the identifier."""
        return self.display_name or self.name


class PlaylistItem(SQLModel, table=True):
    __tablename__ = "playlist_items"
    __table_args__ = (sa.UniqueConstraint("playlist_id", "position", name="uq_playlist_item_position"),)

    id: int | None = Field(default=None, primary_key=True)
    playlist_id: int = Field(foreign_key="playlists.id", index=True, ondelete="CASCADE")
    slide_id: int = Field(foreign_key="slides.id", index=True)
    position: int
    duration_s: float
