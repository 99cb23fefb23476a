"""API shapes for sites, screen groups and screens."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from pydantic import AwareDatetime, Field

from signage_server.schemas import InputModel, OutputModel
from signage_server.screens.brightness import StoredPlan
from signage_server.screens.models import Enrolment, Layout, Orientation
from signage_server.screens.zones import StoredZones


class SiteCreate(InputModel):
    slug: str = Field(max_length=64)
    name: str = Field(max_length=200)
    district: str = Field(default="", max_length=100)
    # Degrees, WGS 84, north/east positive: sunrise and sunset for brightness plans.
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class SiteUpdate(InputModel):
    name: str | None = Field(default=None, max_length=200)
    district: str | None = Field(default=None, max_length=100)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    viewing_distance_m: float | None = None


class SiteRead(OutputModel):
    id: int
    slug: str
    name: str
    district: str
    timezone: str
    latitude: float | None
    longitude: float | None
    created_at: datetime
    viewing_distance_m: float | None = None


class GroupCreate(InputModel):
    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=500)


class GroupUpdate(InputModel):
    name: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=500)


class GroupRead(OutputModel):
    id: int
    name: str
    description: str
    brightness: dict[str, Any] | None
    created_at: datetime


class ScreenCreate(InputModel):
    site_id: int
    name: str = Field(max_length=100)
    width_px: int
    height_px: int
    pixel_pitch_mm: float
    orientation: Orientation = Orientation.LANDSCAPE
    layout: Layout = Layout.STACKED
    languages: list[str] = Field(max_length=8)
    foreign_ratio: float = 0.75
    # Where the nearest readers stand (m), for the readability check; None: the setting's default.
    viewing_distance_m: float | None = None
    # Rotate: the least time each language stays up (s); None: 3 s. Shorter items are lengthened.
    rotation_dwell_s: float | None = None
    # Zone template (docs/protocol.md, "Zones"); None: one zone, the whole screen.
    zones: StoredZones | None = None
    on_time: time | None = None
    off_time: time | None = None
    default_playlist_id: int | None = None
    group_ids: list[int] = Field(default_factory=list, max_length=100)
    display_name: str = Field(default="", max_length=200)
    commissioned_at: AwareDatetime | None = None


class ScreenUpdate(InputModel):
    site_id: int | None = None
    name: str | None = Field(default=None, max_length=100)
    width_px: int | None = None
    height_px: int | None = None
    pixel_pitch_mm: float | None = None
    orientation: Orientation | None = None
    layout: Layout | None = None
    languages: list[str] | None = Field(default=None, max_length=8)
    foreign_ratio: float | None = None
    viewing_distance_m: float | None = None
    rotation_dwell_s: float | None = None
    # Zone template (docs/protocol.md, "Zones"); None: one zone, the whole screen.
    zones: StoredZones | None = None
    on_time: time | None = None
    off_time: time | None = None
    default_playlist_id: int | None = None
    group_ids: list[int] | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=200)
    commissioned_at: AwareDatetime | None = None


class ScreenRead(OutputModel):
    id: int
    site_id: int
    name: str
    width_px: int
    height_px: int
    pixel_pitch_mm: float
    orientation: Orientation
    layout: Layout
    languages: list[str]
    foreign_ratio: float
    viewing_distance_m: float | None
    rotation_dwell_s: float | None
    on_time: time | None
    off_time: time | None
    default_playlist_id: int | None
    brightness: dict[str, Any] | None
    zones: dict[str, Any] | None = None
    enrolment: Enrolment
    display_name: str
    commissioned_at: datetime | None
    revoked_at: datetime | None
    manifest_version: int
    group_ids: list[int]
    created_at: datetime
    updated_at: datetime


class EnrolmentUpdate(InputModel):
    enrolment: Enrolment


class BrightnessRead(OutputModel):
    """A screen's or group's own brightness plan (None: none; a screen then follows its group's)."""

    plan: StoredPlan | None
