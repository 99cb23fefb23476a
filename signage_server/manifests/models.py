"""Every manifest ever issued, so "what was screen S supposed to show at T" has an answer."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class ManifestRecord(SQLModel, table=True):
    __tablename__ = "manifest_records"
    __table_args__ = (sa.UniqueConstraint("screen_id", "version", name="uq_manifest_screen_version"),)

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key: history outlives a deleted screen.
    screen_id: int = Field(index=True)
    version: int
    content_hash: str = Field(sa_type=sa.String(80))
    issued_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    horizon_start: datetime = Field(sa_type=UTCDateTime)
    horizon_end: datetime = Field(sa_type=UTCDateTime)
    key_id: str = Field(sa_type=sa.String(32))
    # The signed envelope exactly as published (canonical JSON), zlib-compressed: a week's manifest
    # is tens of kB re-issued daily per screen, and the history is kept (about 12x smaller).
    envelope_z: bytes = Field(sa_type=sa.LargeBinary)
    asset_sha256s: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # Why items were left out: [{"kind", "id", "reason"}], never silently.
    excluded: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)

    @staticmethod
    def pack(envelope_json: bytes) -> bytes:
        """What envelope_z stores for these canonical envelope bytes (fast level: compiles wait on it)."""
        return zlib.compress(envelope_json, 1)

    @property
    def envelope_json(self) -> bytes:
        """The envelope's canonical JSON bytes, exactly as published to the screen."""
        return zlib.decompress(self.envelope_z)

    @property
    def envelope(self) -> str:
        return self.envelope_json.decode("utf-8")


class ManifestChange(SQLModel, table=True):
    """A target whose screens need a recompile, written beside the change the ORM alone cannot see.

    Bulk deletes (a schedule's old targets, a playlist's old items) leave no objects behind for the
    recompiler's flush listener; the service that issues them writes one row per target here, in the
    same transaction, and the recompiler reads and deletes the rows before the commit.
    """

    __tablename__ = "manifest_changes"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # a ChangeKind
    target_id: int
