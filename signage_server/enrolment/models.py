"""One-time enrolment codes and the failed attempts that rate-limit guessing."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class EnrolmentCode(SQLModel, table=True):
    __tablename__ = "enrolment_codes"

    id: int | None = Field(default=None, primary_key=True)
    screen_id: int = Field(foreign_key="screens.id", index=True, ondelete="CASCADE")
    # HMAC of the code under the server secret: a stolen database does not yield usable codes.
    code_hash: str = Field(sa_type=sa.String(64), unique=True, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_from: str | None = Field(default=None, sa_type=sa.String(64))
    # Set when a newer code for the same screen replaced this one.
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EnrolmentAttempt(SQLModel, table=True):
    __tablename__ = "enrolment_attempts"

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(sa_type=sa.String(64), index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
