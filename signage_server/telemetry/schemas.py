"""API shapes for screen health and proof of play."""

from __future__ import annotations

from datetime import datetime

from signage_server.schemas import OutputModel


class HeartbeatRead(OutputModel):
    received_at: datetime
    sent_at: datetime
    uptime_s: float
    manifest_version: str | None
    current_slide_id: str | None
    current_language: str | None
    frame_hash: str | None
    cache_bytes: int
    disk_free_bytes: int | None
    temperature_c: float | None
    clock_offset_s: float | None
    stale: bool
    last_error: str | None
    brightness_percent: int | None = None
    brightness_source: str | None = None


class ScreenshotInfo(OutputModel):
    taken_at: datetime
    received_at: datetime
    content_type: str
    size: int
    url: str
    thumbnail_url: str


class ScreenStatusRead(OutputModel):
    screen_id: int
    name: str
    enrolment: str
    state: str  # online | offline | unknown
    since: datetime | None
    last_seen: datetime | None
    agent_version: str | None
    heartbeat: HeartbeatRead | None
    screenshot: ScreenshotInfo | None


class SegmentRead(OutputModel):
    language: str
    offset_ms: int
    duration_ms: int


class PlayLogRead(OutputModel):
    screen_id: int
    record_id: str
    slide_id: str
    playlist_id: str | None
    # Languages on screen and for how long; null when the record predates segments (split unknown).
    segments: list[SegmentRead] | None = None
    language: str | None  # older players: the first frame's language only
    manifest_version: str
    started_at: datetime
    duration_ms: int
    interrupted: bool
    clock_jump_ms: int
    frame_hash: str
    received_at: datetime
