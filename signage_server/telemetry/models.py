"""What screens report: presence, the latest heartbeat, proof of play, the latest screenshot."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class PresenceEvent(SQLModel, table=True):
    """Presence history: availability over a period needs every online/offline change, not just the latest."""

    __tablename__ = "presence_events"
    __table_args__ = (sa.Index("ix_presence_events_screen_at", "screen_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    screen_id: int = Field(foreign_key="screens.id", ondelete="CASCADE")
    state: str = Field(sa_type=sa.String(16))  # online | offline
    at: datetime = Field(sa_type=UTCDateTime)
    # status (retained status / last will), heartbeat (a beat brought it back), missed_heartbeats.
    source: str = Field(sa_type=sa.String(32))


class ScreenPresence(SQLModel, table=True):
    __tablename__ = "screen_presence"

    screen_id: int = Field(foreign_key="screens.id", primary_key=True, ondelete="CASCADE")
    state: str = Field(sa_type=sa.String(16))  # online | offline
    since: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    agent_version: str | None = Field(default=None, sa_type=sa.String(64))


class ScreenHeartbeat(SQLModel, table=True):
    __tablename__ = "screen_heartbeats"

    screen_id: int = Field(foreign_key="screens.id", primary_key=True, ondelete="CASCADE")
    received_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime = Field(sa_type=UTCDateTime)
    uptime_s: float
    manifest_version: str | None = Field(default=None, sa_type=sa.String(128))
    current_slide_id: str | None = Field(default=None, sa_type=sa.String(128))
    current_language: str | None = Field(default=None, sa_type=sa.String(8))
    frame_hash: str | None = Field(default=None, sa_type=sa.String(64))
    cache_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    disk_free_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    temperature_c: float | None = None
    # Player clock minus server receipt time, seconds: a drifting clock breaks schedules.
    clock_offset_s: float | None = None
    stale: bool = False
    last_error: str | None = Field(default=None, sa_type=sa.String(500))
    # The LED's level and why (plan, override, alert, sensor), as the player reported it (0016).
    brightness_percent: int | None = None
    brightness_source: str | None = Field(default=None, sa_type=sa.String(16))


SPLIT_SEGMENTS = "segments"
SPLIT_UNKNOWN = "unknown"


class PlayLogEntry(SQLModel, table=True):
    __tablename__ = "play_log"
    __table_args__ = (sa.UniqueConstraint("screen_id", "record_id", name="uq_play_log_screen_record"),)

    id: int | None = Field(default=None, primary_key=True)
    screen_id: int = Field(foreign_key="screens.id", index=True, ondelete="CASCADE")
    record_id: str = Field(sa_type=sa.String(64))
    slide_id: str = Field(sa_type=sa.String(128), index=True)
    playlist_id: str | None = Field(default=None, sa_type=sa.String(128))
    # Older players reported only their first frame's language: kept as sent, never counted as airtime.
    language: str | None = Field(default=None, sa_type=sa.String(8))
    # "segments": play_log_segments say which languages were on screen; "unknown": recorded before that.
    language_split: str = Field(default=SPLIT_SEGMENTS, sa_type=sa.String(16))
    manifest_version: str = Field(sa_type=sa.String(128))
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    duration_ms: int
    frame_hash: str = Field(sa_type=sa.String(64))
    received_at: datetime = Field(sa_type=UTCDateTime)
    interrupted: bool = False  # closed by the player's next start after a crash, at its last checkpoint
    clock_jump_ms: int = 0  # the wall clock moved this much beyond duration_ms during the item
    # "ticker": a message in a zoned screen's ticker zone; None: the main zone (all records before 0017).
    zone: str | None = Field(default=None, sa_type=sa.String(16))


class PlayLogSegment(SQLModel, table=True):
    """A language on screen during a play: stacked items have one per language for the whole play."""

    __tablename__ = "play_log_segments"
    __table_args__ = (sa.Index("ix_play_log_segments_play", "play_id"),)

    id: int | None = Field(default=None, primary_key=True)
    play_id: int = Field(foreign_key="play_log.id", ondelete="CASCADE")
    language: str = Field(sa_type=sa.String(8))
    offset_ms: int
    duration_ms: int


class ScreenScreenshot(SQLModel, table=True):
    __tablename__ = "screen_screenshots"

    screen_id: int = Field(foreign_key="screens.id", primary_key=True, ondelete="CASCADE")
    taken_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    command_id: str = Field(sa_type=sa.String(64))
    content_type: str = Field(sa_type=sa.String(32))
    # Files under data_dir/screenshots, named by content hash so a rewrite is never half-seen.
    sha256: str = Field(sa_type=sa.String(64))
    size: int
    thumb_sha256: str | None = Field(default=None, sa_type=sa.String(64))
