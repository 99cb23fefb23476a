"""The uvicorn --factory entry point: each worker process builds its own app from SIGNAGE_*."""

from __future__ import annotations

from fastapi import FastAPI

from signage_server.app import create_app
from signage_server.config import load_settings


def production_app() -> FastAPI:
    """An app from the environment; run `signage-server migrate` before starting several of these."""
    return create_app(load_settings())
