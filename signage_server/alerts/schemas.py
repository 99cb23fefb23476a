"""API shapes for urgent alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from signage_server.schemas import InputModel, OutputModel


class TemplateRead(OutputModel):
    id: int
    key: str
    name: str
    captions: dict[str, str]
    # On zoned screens: "main" takes the slides' zone only, "full" the whole screen (docs/protocol.md, "Zones").
    cover: str = "full"


class AlertLaunch(InputModel):
    template_id: int
    group_ids: list[int] = Field(default_factory=list, max_length=500)
    screen_ids: list[int] = Field(default_factory=list, max_length=5000)
    expires_at: datetime


class AlertTargetRead(OutputModel):
    screen_id: int
    name: str
    confirmed: bool
    acked_at: datetime | None
    shown_at: datetime | None
    frame_hash: str | None
    latency_ms: int | None


class AlertRead(OutputModel):
    id: int
    template: str
    version: int
    state: str  # active | expired | withdrawn
    captions: dict[str, str]
    group_ids: list[int]
    screen_ids: list[int]
    topics: list[str]
    issued_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None
    confirmed: int
    total: int
    latency_p50_ms: int | None
    latency_max_ms: int | None
    targets: list[AlertTargetRead]
