"""The app factory: everything the app needs comes in through Settings, nothing at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from signage_server import exception_handlers, typesetting, web
from signage_server.alerts.routes import router as alerts_router
from signage_server.alerts.views import router as alerts_views
from signage_server.assets.routes import router as assets_router
from signage_server.assets.store import AssetStore
from signage_server.audit.routes import router as audit_router
from signage_server.audit.views import router as audit_views
from signage_server.bounds import bounded_params
from signage_server.captions.routes import router as captions_router
from signage_server.captions.views import router as captions_views
from signage_server.config import Settings
from signage_server.dashboard.views import router as dashboard_views
from signage_server.db import SessionFactory, make_engine, session_factory, upgrade_to_head, utcnow
from signage_server.deps import has_credentials
from signage_server.enrolment.routes import router as enrolment_router
from signage_server.exception_handlers import error_response
from signage_server.feeds.routes import router as feeds_router
from signage_server.feeds.views import router as feeds_views
from signage_server.health import router as health_router
from signage_server.manifests import service as manifests
from signage_server.manifests.events import ManifestEvents, Recompiler
from signage_server.manifests.keys import KeyRing
from signage_server.manifests.routes import router as manifests_router
from signage_server.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from signage_server.playlists.routes import router as playlists_router
from signage_server.playlists.views import router as playlists_views
from signage_server.reports.routes import router as reports_router
from signage_server.reports.views import router as reports_views
from signage_server.schedules.routes import router as schedules_router
from signage_server.schedules.views import router as schedules_views
from signage_server.screens.routes import router as screens_router
from signage_server.screens.views import router as screens_views
from signage_server.slides.routes import router as slides_router
from signage_server.slides.views import router as slides_views
from signage_server.telemetry.routes import router as telemetry_router
from signage_server.transport.ownership import transport_lock
from signage_server.transport.service import TransportOwnedElsewhere, TransportService
from signage_server.users.routes import router as users_router
from signage_server.users.views import router as users_views

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
# Paths that carry file uploads get the upload limit; everything else the small JSON limit.
_UPLOAD_SUFFIXES = ("/assets", "/image")


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    sessions: SessionFactory | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """Build the app; tests pass their own engine, session factory and clock."""
    secret_key = settings.resolved_secret_key()
    engine = engine or make_engine(settings.resolved_database_url())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            upgrade_to_head(engine)
        key_ring.current()  # first run creates the signing key (0600) before anything is signed
        if settings.warm_typesetting:
            typesetting.warm_in_background()
        if settings.mqtt_enabled:
            # Fails the start with a clear message (no mosquitto, port taken, broker refused us or its certificate).
            transport = TransportService(settings, sessions=app.state.session_factory, clock=clock,
                                         path_for=_existing(app.state.asset_store),
                                         # A screen may fetch only what its latest manifest names; restarts
                                         # republish from the DB; the key chain is retained from start on.
                                         latest_envelopes=_latest_envelopes, manifest_assets=_manifest_assets,
                                         handovers=key_ring.handovers,
                                         lock=transport_lock(data_dir=settings.data_dir, engine=engine))
            try:
                transport.start()
            except TransportOwnedElsewhere as exc:
                log.warning("%s: requests that need the broker (enrolment, alerts) get 503 here; run one "
                            "process with the managed broker, or set SIGNAGE_MQTT_URL for several", exc)
                app.state.transport_holder = exc.holder
            else:
                app.state.transport = transport
                unsubscribe = manifest_events.subscribe(lambda issued: transport.on_manifests_later(
                    issued, {sid: (signed.version, signed.envelope_json) for sid, signed in issued.envelopes.items()}))
        from signage_server.manifests.jobs import HorizonJob, KeyWatch, build_scheduler

        horizon = HorizonJob(sessions=app.state.session_factory, recompiler=recompiler)
        app.state.key_watch = KeyWatch(ring=key_ring, resign=horizon.resign,
                                       publish_chain=lambda: _on_transport(app, TransportService.publish_key_chain),
                                       publish_manifests=lambda: _on_transport(app, TransportService.republish_manifests))
        from signage_server.feeds.jobs import FeedJob

        app.state.feed_job = FeedJob(sessions=app.state.session_factory, key=key_ring.current, clock=clock,
                                     publish=lambda items: _on_transport(app, lambda t: t.publish_feeds(items)))
        scheduler = None
        if settings.run_scheduler:
            scheduler = build_scheduler(horizon, key_watch=app.state.key_watch,
                                        key_check_interval_s=settings.key_check_interval_s,
                                        feed_job=app.state.feed_job)
            scheduler.start()
        app.state.manifest_scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if app.state.transport is not None:
                unsubscribe()
                app.state.transport.stop()
                app.state.transport = None

    app = FastAPI(
        # Every route, API and page alike: out-of-range ids, numbers and dates are 404/422, never a 500.
        dependencies=[Depends(bounded_params)],
        title="Border-gate signage controller",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    key_ring = KeyRing(settings.data_dir)
    manifest_events = ManifestEvents()
    recompiler = Recompiler(key=key_ring.current, events=manifest_events, clock=clock,
                            horizon_days=settings.manifest_horizon_days)
    # Sessions recompile the screens their changes affect inside the same commit.
    app.state.session_factory = recompiler.wrap(sessions or session_factory(engine))
    app.state.key_ring = key_ring
    app.state.manifest_events = manifest_events
    app.state.manifest_recompiler = recompiler
    app.state.manifest_scheduler = None  # the lifespan sets it when settings.run_scheduler is on
    app.state.clock = clock
    app.state.secret_key = secret_key
    app.state.asset_store = AssetStore(settings.assets_dir)
    app.state.transport = None  # TransportService while the lifespan runs with MQTT enabled
    app.state.transport_holder = None  # who runs the MQTT side when this process cannot run it at all
    app.state.key_watch = None  # KeyWatch while the lifespan runs: key_watch.rotate() for in-process rotation
    app.state.templates = Jinja2Templates(
        env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True))

    def limit_for(path: str) -> int:
        if path.startswith(API_PREFIX) and path.endswith(_UPLOAD_SUFFIXES):
            return settings.max_upload_bytes
        if path == "/slides/upload":
            # Several pictures in one form: the per-file limit is checked as each file is read.
            return settings.max_upload_bytes * 10
        return settings.max_body_bytes

    async def refuse_anonymous(scope: Scope) -> Response | None:
        request = Request(scope)
        if await run_in_threadpool(has_credentials, request):
            return None
        if scope["path"].startswith(API_PREFIX):
            return error_response(401, "unauthorized", "log in or send an API token before uploading")
        return web.login_redirect(scope["path"])

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for, small_limit=settings.max_body_bytes,
                       refuse_anonymous=refuse_anonymous)
    app.add_middleware(SecurityHeadersMiddleware)
    exception_handlers.register(app)
    web.register(app)

    api = APIRouter(prefix=API_PREFIX)
    # telemetry first: its /screens/status must not be taken for /screens/{screen_id}.
    for router in (telemetry_router, enrolment_router, alerts_router, users_router, screens_router,
                   assets_router, slides_router, captions_router, playlists_router, schedules_router,
                   manifests_router, audit_router, reports_router, feeds_router):
        api.include_router(router)
    app.include_router(api)
    app.include_router(health_router)
    app.include_router(users_views)
    for views in (slides_views, captions_views, audit_views, screens_views, dashboard_views, alerts_views,
                  playlists_views, schedules_views, reports_views, feeds_views):
        app.include_router(views)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _on_transport(app: FastAPI, action: Callable[[TransportService], object]) -> None:
    """Run a publishing step when this process has the MQTT side (not with SIGNAGE_MQTT_ENABLED=false)."""
    transport: TransportService | None = app.state.transport
    if transport is not None:
        action(transport)


def _existing(store: AssetStore) -> Callable[[str], Path | None]:
    """The chunk server's view of the asset store: a path only for assets the server really holds."""

    def path_for(sha256: str) -> Path | None:
        path = store.path_for(sha256)
        return path if path.is_file() else None

    return path_for


def _latest_envelopes(session: Session, screen_ids: Sequence[int]) -> dict[int, bytes]:
    """The signed manifests the broker must hold retained for these screens (screens without one left out)."""
    return {record.screen_id: record.envelope_json
            for record in manifests.latest_manifests(session, screen_ids=screen_ids).values()}


def _manifest_assets(session: Session, screen_id: int) -> frozenset[str]:
    return manifests.manifest_assets(session, screen_id=screen_id)
