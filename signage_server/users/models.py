"""People, their roles, and how they prove who they are (sessions, API tokens, login attempts)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import StrEnumType, UTCDateTime


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    TRANSLATOR = "translator"
    APPROVER = "approver"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=sa.String(64), unique=True, index=True)
    display_name: str = Field(sa_type=sa.String(200))
    role: Role = Field(sa_type=StrEnumType(Role))
    # Translators only: the caption languages they may write and approve.
    languages: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    password_hash: str = Field(sa_type=sa.String(255))
    is_active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)


class LoginSession(SQLModel, table=True):
    """Server-side session row: logout deletes it, so a stolen cookie dies with it."""

    __tablename__ = "login_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_type=sa.String(64), unique=True, index=True)
    csrf_token: str = Field(sa_type=sa.String(64))
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    address: str = Field(default="", sa_type=sa.String(64))


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(sa_type=sa.String(100))
    token_hash: str = Field(sa_type=sa.String(64), unique=True, index=True)
    # First characters of the token, shown so a person can tell their tokens apart.
    prefix: str = Field(sa_type=sa.String(16))
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """Failed logins, counted per account and per address over a window to slow guessing."""

    __tablename__ = "login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=sa.String(64), index=True)
    address: str = Field(sa_type=sa.String(64), index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
