"""API shapes for manifest history and the signing key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from signage_server.schemas import OutputModel


class ManifestSummary(OutputModel):
    screen_id: int
    version: int
    content_hash: str
    issued_at: datetime
    expires_at: datetime
    horizon_start: datetime
    horizon_end: datetime
    key_id: str
    asset_sha256s: list[str]
    excluded: list[dict[str, str]]


class ManifestDetail(ManifestSummary):
    envelope: dict[str, Any]


class ExpectedRead(OutputModel):
    screen_id: int
    at: datetime
    version: int | None
    playlist_ids: list[str]
    slide_id: str | None
    captions: dict[str, str]
    started_at: datetime | None
    until: datetime | None
    is_default: bool
    stale: bool


class CompileRead(OutputModel):
    screen_id: int
    version: int | None
    new_version: bool
    excluded: list[dict[str, str]]
    error: str | None


class SigningKeyRead(OutputModel):
    key_id: str
    public_key: str
    fingerprint: str
