"""The settings dependency, apart from deps.py: pagination needs it, and deps imports (via users.service) pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from signage_server.config import Settings


def app_settings(request: Request) -> Settings:
    """Helpers that hold only the request read the app's state through these, never app.state directly."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]
