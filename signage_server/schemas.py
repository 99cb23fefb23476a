"""Base classes shared by every domain's API shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
