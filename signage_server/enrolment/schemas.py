"""API shapes of the enrolment exchange; the player's `enroll` command depends on these exact fields."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from signage_server.schemas import InputModel, OutputModel


class EnrolmentCodeRead(OutputModel):
    code: str
    expires_at: datetime


class EnrolRequest(InputModel):
    code: str = Field(min_length=1, max_length=64)
    agent_version: str = Field(default="", max_length=64)


class EnrolResponse(OutputModel):
    screen_id: str
    broker_url: str
    username: str
    password: str
    server_public_key: str  # base64 of the raw 32-byte Ed25519 key the player pins
    key_id: str
    fingerprint: str
    groups: list[str]  # alert groups: subscribe to signage/v1/groups/{group}/alert
    server_time: datetime
