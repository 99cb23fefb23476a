"""Pre-approved alert templates, launched alerts, and each targeted screen's acknowledgement."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime

# 64-bit: versions start at the clock's seconds. SQLite's INTEGER already is, so its table is not rebuilt.
_VERSION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class AlertTemplate(SQLModel, table=True):
    __tablename__ = "alert_templates"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=sa.String(64), unique=True, index=True)
    name: str = Field(sa_type=sa.String(200))
    # {"vi": ..., "en": ..., "km": ...}, approved once, so a launch needs no translator at 3 a.m.
    captions: dict[str, str] = Field(sa_type=sa.JSON)
    # On zoned screens: "main" takes the slides' zone only (strip and ticker stay), "full" the whole screen (0018).
    cover: str = Field(default="full", sa_type=sa.String(8), sa_column_kwargs={"server_default": "full"})
    created_at: datetime = Field(sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="alert_templates.id", index=True)
    # Server-wide sequence shared by launches and withdrawals (AlertSequence): players refuse anything not newer.
    version: int = Field(sa_type=_VERSION, unique=True)
    captions: dict[str, str] = Field(sa_type=sa.JSON)
    group_ids: list[int] = Field(sa_type=sa.JSON)
    screen_ids: list[int] = Field(sa_type=sa.JSON)
    # Broker group topics it was published on (g<id> for groups, s<id> for single screens).
    topics: list[str] = Field(sa_type=sa.JSON)
    issued_at: datetime = Field(sa_type=UTCDateTime, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    launched_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    envelope: str = Field(sa_type=sa.Text)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    withdrawn_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    withdrawal_version: int | None = Field(default=None, sa_type=_VERSION)
    # Set once the retained copy was cleared from the broker after expiry.
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertTarget(SQLModel, table=True):
    __tablename__ = "alert_targets"

    alert_id: int = Field(foreign_key="alerts.id", primary_key=True, ondelete="CASCADE")
    screen_id: int = Field(foreign_key="screens.id", primary_key=True, ondelete="CASCADE")
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    shown_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    frame_hash: str | None = Field(default=None, sa_type=sa.String(64))
    # Launch to the server receiving the ack: what an approver needs to trust the alert is out.
    latency_ms: int | None = None


class AlertSequence(SQLModel, table=True):
    """The one row that hands out alert versions; locked for the rest of the issuing transaction."""

    __tablename__ = "alert_sequence"

    id: int = Field(default=1, primary_key=True)
    last_version: int = Field(sa_type=sa.BigInteger)
