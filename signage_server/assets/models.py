"""Uploaded files, stored once by content hash however many slides use them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class Asset(SQLModel, table=True):
    __tablename__ = "assets"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(sa_type=sa.String(64), unique=True, index=True)
    size_bytes: int
    media_type: str = Field(sa_type=sa.String(64))
    width_px: int
    height_px: int
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
