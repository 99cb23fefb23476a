"""Sites (border gates), their LED screens, and groups of screens that share content."""

from datetime import datetime, time
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Relationship, SQLModel

from signage_server.db import StrEnumType, UTCDateTime


class Orientation(StrEnum):
    LANDSCAPE = "landscape"
    PORTRAIT = "portrait"


class Layout(StrEnum):
    STACKED = "stacked"  # all languages at once, Vietnamese on top
    ROTATE = "rotate"  # one language at a time, Vietnamese first
    TICKER = "ticker"  # a scrolling strip, languages one after another


class Enrolment(StrEnum):
    PENDING = "pending"
    ENROLLED = "enrolled"
    REVOKED = "revoked"


class Site(SQLModel, table=True):
    __tablename__ = "sites"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_type=sa.String(64), unique=True, index=True)
    name: str = Field(sa_type=sa.String(200))
    district: str = Field(default="", sa_type=sa.String(100))
    timezone: str = Field(default="Asia/Ho_Chi_Minh", sa_type=sa.String(64))
    # Degrees (WGS 84): sunrise and sunset for brightness plans (migration 0016); None: not set yet.
    latitude: float | None = None
    longitude: float | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Where the site's readers stand (m), the default of its screens' readability check; None: the setting's.
    viewing_distance_m: float | None = None


class ScreenGroupLink(SQLModel, table=True):
    __tablename__ = "screen_group_links"

    screen_id: int = Field(foreign_key="screens.id", primary_key=True, ondelete="CASCADE")
    group_id: int = Field(foreign_key="screen_groups.id", primary_key=True, ondelete="CASCADE")


class ScreenGroup(SQLModel, table=True):
    __tablename__ = "screen_groups"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(100), unique=True, index=True)
    # What the pages show ("Cửa khẩu Hoa Lư – tất cả"); empty: the name (migration 0012).
    display_name: str = Field(default="", sa_type=sa.String(200), sa_column_kwargs={"server_default": ""})
    description: str = Field(default="", sa_type=sa.String(500))
    # Brightness plan for members without their own (screens/brightness.py StoredPlan; 0016); None: none.
    brightness: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)

    screens: list["Screen"] = Relationship(back_populates="groups", link_model=ScreenGroupLink)

    @property
    def label(self) -> str:
        """What a person reads: the display name, else the identifier."""
        return self.display_name or self.name


class Screen(SQLModel, table=True):
    __tablename__ = "screens"

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    name: str = Field(sa_type=sa.String(100), unique=True, index=True)
    # What the pages show ("Hoa Lư – sảnh đến"); empty: the name (migration 0011).
    display_name: str = Field(default="", sa_type=sa.String(200), sa_column_kwargs={"server_default": ""})
    width_px: int
    height_px: int
    pixel_pitch_mm: float
    orientation: Orientation = Field(sa_type=StrEnumType(Orientation))
    layout: Layout = Field(sa_type=StrEnumType(Layout))
    # Display order, Vietnamese first (Advertising Law 16/2012/QH13 Art. 18(2)).
    languages: list[str] = Field(sa_type=sa.JSON)
    # Foreign text height relative to Vietnamese: the 3/4 rule by default.
    foreign_ratio: float = 0.75
    # How far the nearest readers stand, for the readability check; None: the setting's default (0014).
    viewing_distance_m: float | None = None
    # Rotate layout: the least time each language stays up (s); None: signage_core's default (3 s).
    rotation_dwell_s: float | None = None
    on_time: time | None = None
    off_time: time | None = None
    # This screen's own brightness plan (screens/brightness.py StoredPlan; 0016); None: its group's, if any.
    brightness: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    # Zone template, ticker playlist and strip widgets (screens/zones.py StoredZones; 0018); None: one zone.
    zones: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    default_playlist_id: int | None = Field(default=None, foreign_key="playlists.id", index=True)
    enrolment: Enrolment = Field(default=Enrolment.PENDING, sa_type=StrEnumType(Enrolment))
    # Availability counts from here (docs/reports.md): set at the first enrolment, an admin may correct it
    # to the day the screen was handed over. Revoked: out of service from revoked_at on.
    commissioned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped each time a new manifest is compiled for this screen.
    manifest_version: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    groups: list[ScreenGroup] = Relationship(back_populates="screens", link_model=ScreenGroupLink)

    @property
    def label(self) -> str:
        """What a person reads: the display name, else the identifier."""
        return self.display_name or self.name
