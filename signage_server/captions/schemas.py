"""API shapes for captions."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from signage_server.captions.models import CaptionState
from signage_server.schemas import InputModel, OutputModel


class CaptionRead(OutputModel):
    id: int
    slide_id: int
    language: str
    text: str
    state: CaptionState
    return_reason: str | None
    author_id: int | None
    approved_by_id: int | None
    approved_at: datetime | None
    updated_at: datetime


class CaptionWrite(InputModel):
    text: str = Field(max_length=5000)
    submit: bool = False


class CaptionReturn(InputModel):
    reason: str = Field(max_length=2000)
