"""API shapes for captions."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from signage_server.captions.models import CaptionState
from signage_server.captions.revisions import LanguageRevisions
from signage_server.db import saved_id
from signage_server.schemas import InputModel, OutputModel


class CaptionRead(OutputModel):
    """A slide's caption in one language: the revision being worked on (pending, else live) and the live one."""

    id: int  # the revision shown here
    slide_id: int
    language: str
    text: str
    state: CaptionState
    return_reason: str | None
    author_id: int | None
    approved_by_id: int | None
    approved_at: datetime | None
    updated_at: datetime
    etag: str  # send back as If-Match when writing
    source_revision_id: int | None  # a translation: the Vietnamese revision it translates
    outdated: bool  # a translation of an older Vietnamese text: back in the translators' queue
    live_revision_id: int | None  # what the screens may show; unchanged by drafts
    live_text: str | None

    @classmethod
    def of(cls, entry: LanguageRevisions) -> CaptionRead:
        rev = entry.current
        return cls(id=saved_id(rev), slide_id=rev.slide_id, language=rev.language, text=rev.text, state=rev.state,
                   return_reason=rev.return_reason, author_id=rev.author_id, approved_by_id=rev.approved_by_id,
                   approved_at=rev.approved_at, updated_at=rev.updated_at, etag=rev.etag,
                   source_revision_id=rev.source_id, outdated=entry.outdated,
                   live_revision_id=entry.live.id if entry.live else None,
                   live_text=entry.live.text if entry.live else None)


class CaptionWrite(InputModel):
    text: str = Field(max_length=5000)
    submit: bool = False


class CaptionApprove(InputModel):
    # Vietnamese only: show the new text at once on Vietnamese-only screens (docs/architecture.md).
    urgent: bool = False


class CaptionReturn(InputModel):
    reason: str = Field(max_length=2000)
