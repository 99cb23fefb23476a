from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from signage_server.db import UTCDateTime


class DataFeed(SQLModel, table=True):
    """An HTTP JSON source the server polls for a strip widget (temperature, exchange rates), and its last reading."""

    __tablename__ = "data_feeds"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=sa.String(64), unique=True)  # what widgets name (WidgetSpec.feed)
    kind: str = Field(sa_type=sa.String(16))  # signage_core.feeds.FeedKind
    url: str = Field(sa_type=sa.String(500))
    period_s: int
    values: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    observed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.String(500))
    created_at: datetime = Field(sa_type=UTCDateTime)
