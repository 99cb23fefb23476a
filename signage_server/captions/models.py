"""Caption revisions: the history of each slide's caption in each language, one of them live."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import StrEnumType, UTCDateTime


class CaptionState(StrEnum):
    """A revision's place in review.

    draft / submitted / returned: the one *pending* revision of a slide and language (at most one).
    approved: the one *live* revision (at most one): the last approved text.
    retired: was live, replaced by a newer approved revision; kept, as screens may still show it
      as part of the previous consistent set (see docs/architecture.md).
    discarded: a pending revision replaced before approval (kept for the audit trail).
    """

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"
    RETIRED = "retired"
    DISCARDED = "discarded"


PENDING_STATES = (CaptionState.DRAFT, CaptionState.SUBMITTED, CaptionState.RETURNED)
_PENDING_SQL = "state IN ('draft', 'submitted', 'returned')"
_LIVE_SQL = "state = 'approved'"


class CaptionRevision(SQLModel, table=True):
    __tablename__ = "caption_revisions"
    __table_args__ = (
        # Exactly one live and at most one pending revision per slide and language, kept by the database.
        sa.Index("uq_caption_live", "slide_id", "language", unique=True,
                 sqlite_where=sa.text(_LIVE_SQL), postgresql_where=sa.text(_LIVE_SQL)),
        sa.Index("uq_caption_pending", "slide_id", "language", unique=True,
                 sqlite_where=sa.text(_PENDING_SQL), postgresql_where=sa.text(_PENDING_SQL)),
    )

    id: int | None = Field(default=None, primary_key=True)
    slide_id: int = Field(foreign_key="slides.id", index=True, ondelete="CASCADE")
    language: str = Field(sa_type=sa.String(8))
    # Always NFC (signage_core.text.normalize_caption) so equal texts compare equal.
    text: str = Field(sa_type=sa.Text)
    state: CaptionState = Field(default=CaptionState.DRAFT, sa_type=StrEnumType(CaptionState))
    # A translation: the Vietnamese revision it translates (None for Vietnamese itself).
    source_id: int | None = Field(default=None, foreign_key="caption_revisions.id")
    return_reason: str | None = Field(default=None, sa_type=sa.Text)
    author_id: int | None = Field(default=None, foreign_key="users.id")
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Vietnamese approved in an emergency: shown at once on screens that show Vietnamese only.
    urgent: bool = Field(default=False)
    # Bumped on every change of a pending revision: the ETag / hidden form field that stops lost updates.
    version: int = Field(default=1)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    @property
    def token(self) -> str:
        """The revision and its version: what a page posts back in its hidden revision field."""
        return f"{self.id}.{self.version}"

    @property
    def etag(self) -> str:
        return f'"{self.token}"'
