"""One caption per slide and language, with its review state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import StrEnumType, UTCDateTime


class CaptionState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"


class Caption(SQLModel, table=True):
    __tablename__ = "captions"
    __table_args__ = (sa.UniqueConstraint("slide_id", "language", name="uq_caption_slide_language"),)

    id: int | None = Field(default=None, primary_key=True)
    slide_id: int = Field(foreign_key="slides.id", index=True, ondelete="CASCADE")
    language: str = Field(sa_type=sa.String(8))
    # Always NFC (signage_core.text.normalize_caption) so equal texts compare equal.
    text: str = Field(sa_type=sa.Text)
    state: CaptionState = Field(default=CaptionState.DRAFT, sa_type=StrEnumType(CaptionState))
    return_reason: str | None = Field(default=None, sa_type=sa.Text)
    author_id: int | None = Field(default=None, foreign_key="users.id")
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
