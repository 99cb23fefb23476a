"""A slide: one image and/or text, shown with a caption per language once approved."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class Slide(SQLModel, table=True):
    __tablename__ = "slides"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(100), unique=True, index=True)
    asset_id: int | None = Field(default=None, foreign_key="assets.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # Approval of the slide as a whole; cleared whenever its image or a caption changes.
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Retired (archived): off every screen, hidden from the default list; captions, history and play
    # records stay, and restoring clears these (migration 0014).
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    retired_by_id: int | None = Field(default=None, foreign_key="users.id")
