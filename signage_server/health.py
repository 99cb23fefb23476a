"""Liveness and readiness for the service manager and the load balancer."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from signage_server.config import Settings
from signage_server.db import current_revision, head_revision
from signage_server.deps import Broker, BrokerDep, EngineDep, SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers; nothing else is checked."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(engine: EngineDep, broker: BrokerDep, settings: SettingsDep) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
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
    return JSONResponse({"status": "ok", "database": "ok", "migration": current, "transport": _transport(broker, settings)})


def _transport(broker: Broker, settings: Settings) -> dict[str, object]:
    """Which process runs the MQTT side (reports, chunk server, jobs): one per deployment, see docs/scaling.md."""
    transport = broker.transport
    if transport is not None:
        # The broker's state is reported, not gated on: pages and uploads work while it restarts.
        # Nor are regional brokers: the rest of the country is served while one region is down.
        state: dict[str, object] = {"role": "owner" if transport.owner else "publisher",
                                    "owner": transport.holder(), "broker": transport.broker_state()}
        if transport.settings.mqtt_regions:
            state["regions"] = transport.region_states()
        return state
    if broker.transport_holder is not None:
        return {"role": "none", "owner": broker.transport_holder}
    return {"role": "disabled" if not settings.mqtt_enabled else "none", "owner": None}
