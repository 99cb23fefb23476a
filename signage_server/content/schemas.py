"""The declarative content files (playlists/*.yaml): sites, groups, screens, slides, playlists, schedules."""

from __future__ import annotations

from datetime import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from signage_core.brightness import PlanLevels


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SiteEntry(_Entry):
    slug: str
    name: str
    district: str = ""
    # Degrees (north/east positive), for sunrise/sunset in brightness plans; absent: left as they are.
    latitude: float | None = None
    longitude: float | None = None


class GroupEntry(_Entry):
    name: str
    display_name: str = ""
    description: str = ""
    # The group's brightness plan (docs/operations.md, "Brightness"); absent: left as it is.
    brightness: PlanLevels | None = None


class SlideEntry(_Entry):
    name: str
    # Path relative to the YAML file; stored content-addressed, never under this name.
    image: str | None = None
    captions: dict[str, str] = Field(default_factory=dict)


class ItemEntry(_Entry):
    slide: str
    duration: float


class PlaylistEntry(_Entry):
    name: str
    display_name: str = ""
    description: str = ""
    items: list[ItemEntry] = Field(default_factory=list)


class ZonesEntry(_Entry):
    template: str
    ticker_playlist: str | None = None
    widgets: list[dict[str, Any]] = Field(default_factory=list)


class ScreenEntry(_Entry):
    name: str
    display_name: str = ""
    site: str
    width: int
    height: int
    pixel_pitch_mm: float
    orientation: str = "landscape"
    layout: str = "stacked"
    languages: list[str]
    foreign_ratio: float = 0.75
    # Rotate layout: the least seconds each language stays up; None: the default (3 s).
    rotation_dwell_s: float | None = None
    # Not "on"/"off": YAML 1.1 reads those keys as booleans.
    on_time: time | None = None
    off_time: time | None = None
    groups: list[str] = Field(default_factory=list)
    playlist: str | None = None
    # The screen's own brightness plan, beating its groups'; absent: left as it is.
    brightness: PlanLevels | None = None
    # Zone template (docs/protocol.md, "Zones"): {template, ticker_playlist (a playlist name), widgets}.
    zones: ZonesEntry | None = None


class ScheduleEntry(_Entry):
    name: str
    playlist: str
    priority: int = 0
    rule: dict[str, Any] = Field(default_factory=dict)
    screens: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class ContentFile(_Entry):
    sites: list[SiteEntry] = Field(default_factory=list)
    groups: list[GroupEntry] = Field(default_factory=list)
    slides: list[SlideEntry] = Field(default_factory=list)
    playlists: list[PlaylistEntry] = Field(default_factory=list)
    screens: list[ScreenEntry] = Field(default_factory=list)
    schedules: list[ScheduleEntry] = Field(default_factory=list)
