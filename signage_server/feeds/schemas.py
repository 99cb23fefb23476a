from datetime import datetime
from typing import Any

from pydantic import Field

from signage_server.schemas import InputModel, OutputModel


class FeedCreate(InputModel):
    name: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    url: str = Field(max_length=500)
    period_s: int


class FeedRead(OutputModel):
    id: int
    name: str
    kind: str
    url: str
    period_s: int
    values: dict[str, Any] | None
    observed_at: datetime | None
    fetched_at: datetime | None
    last_error: str | None
