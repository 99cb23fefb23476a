"""API shapes for slides and their captions."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from signage_server.captions.schemas import CaptionRead
from signage_server.schemas import InputModel, OutputModel


class SlideCreate(InputModel):
    name: str = Field(max_length=100)
    asset_id: int | None = None


class SlideUpdate(InputModel):
    name: str | None = Field(default=None, max_length=100)
    asset_id: int | None = None


class SlideRead(OutputModel):
    id: int
    name: str
    asset_id: int | None
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    approved_by_id: int | None
    approved_at: datetime | None
    # Retired (archived): on no screen, hidden from the default list, restorable (POST .../restore).
    retired: bool
    retired_at: datetime | None
    retired_by_id: int | None
    # Per required language: any of live, pending, outdated, or missing (slides.service.language_states).
    caption_states: dict[str, list[str]]
    captions: list[CaptionRead]
    required_languages: list[str]
    missing_languages: list[str]
    # Live translations of an older Vietnamese text: the new Vietnamese waits for them (the old set stays on air).
    outdated_languages: list[str]
    on_air: dict[str, int]  # language -> the caption revision the screens show
    publishable: bool
