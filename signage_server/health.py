"""Liveness and readiness for the service manager and the load balancer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from signage_server.db import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers; nothing else is checked."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        return JSONResponse({"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
                            status_code=503)
    head = head_revision()
    if current != head:
        return JSONResponse({"status": "unavailable", "database": "ok", "migration": current, "head": head},
                            status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "migration": current, "transport": _transport(request)})


def _transport(request: Request) -> dict[str, object]:
    """Which process runs the MQTT side (reports, chunk server, jobs): one per deployment, see docs/scaling.md."""
    state = request.app.state
    transport = state.transport
    if transport is not None:
        # The broker's state is reported, not gated on: pages and uploads work while it restarts.
        return {"role": "owner" if transport.owner else "publisher", "owner": transport.holder(),
                "broker": transport.broker_state()}
    if state.transport_holder is not None:
        return {"role": "none", "owner": state.transport_holder}
    return {"role": "disabled" if not state.settings.mqtt_enabled else "none", "owner": None}
