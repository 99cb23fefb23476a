"""API shapes for assets."""

from __future__ import annotations

from datetime import datetime

from signage_server.schemas import OutputModel


class AssetRead(OutputModel):
    id: int
    sha256: str
    size_bytes: int
    media_type: str
    width_px: int
    height_px: int
    created_at: datetime
