"""API shapes for users, login and API tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from signage_server.schemas import InputModel, OutputModel
from signage_server.users.models import Role


class UserRead(OutputModel):
    id: int
    username: str
    display_name: str
    role: Role
    languages: list[str]
    is_active: bool
    created_at: datetime


class UserCreate(InputModel):
    username: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    role: Role
    languages: list[str] = Field(default_factory=list, max_length=8)
    password: str = Field(max_length=1000)


class UserUpdate(InputModel):
    display_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    languages: list[str] | None = Field(default=None, max_length=8)
    is_active: bool | None = None
    password: str | None = Field(default=None, max_length=1000)


class LoginRequest(InputModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1000)


class Me(OutputModel):
    user: UserRead
    # Send back as X-CSRF-Token on every write made with the session cookie.
    csrf_token: str | None


class TokenCreate(InputModel):
    name: str = Field(max_length=100)


class TokenRead(OutputModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenRead):
    # Shown once; only a keyed hash is stored.
    token: str
