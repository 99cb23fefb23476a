"""The horizon job keeps every manifest a week ahead with nobody editing; driven with an injected clock."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage_core.schedule import to_local
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.manifests import service as manifests
from signage_server.manifests.events import Recompiler
from signage_server.manifests.jobs import HorizonJob, build_scheduler
from signage_server.manifests.keys import signing_key_path
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import TEST_SECRET, Clock
from tests.server.world import NOW


def test_horizon_job_issues_a_version_when_the_day_or_the_expiry_moves_on(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock, app: object) -> None:
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    recompiler: Recompiler = app.state.manifest_recompiler  # type: ignore[attr-defined]
    heard: list[list[str]] = []
    unsubscribe = app.state.manifest_events.subscribe(heard.append)  # type: ignore[attr-defined]
    job = HorizonJob(sessions=app.state.session_factory, recompiler=recompiler)  # type: ignore[attr-defined]
    try:
        screen = str(world["screen"])
        assert job.daily() == [screen] and heard == [[screen]]  # the spare screen has nothing to show
        assert job.daily() == [] and job.expiring() == []  # same day, same content: nothing new
        clock.advance(days=1)
        assert job.daily() == [screen]  # the horizon moved a day
        latest = manifests.latest_manifest(session, screen_id=world["screen"])
        assert latest is not None and latest.version == 2
        assert to_local(latest.horizon_start).date() == to_local(clock.now).date()
        assert to_local(latest.horizon_start).time().hour == 0
        assert latest.horizon_end - latest.horizon_start == timedelta(days=8)
        clock.advance(days=5, hours=12)  # nobody ran the daily job; the manifest nears its expiry
        assert latest.expires_at - clock.now <= manifests.REFRESH_BEFORE_EXPIRY
        assert job.expiring() == [screen]
        assert job.expiring() == []
        assert heard == [[screen], [screen], [screen]]
    finally:
        unsubscribe()


def test_the_jobs_are_registered_in_one_place(app: object) -> None:
    job = HorizonJob(sessions=app.state.session_factory,  # type: ignore[attr-defined]
                     recompiler=app.state.manifest_recompiler)  # type: ignore[attr-defined]
    scheduler = build_scheduler(job)
    assert {j.id for j in scheduler.get_jobs()} == {"manifests-daily", "manifests-expiring"}
    assert not scheduler.running  # started only by the app lifespan when settings.run_scheduler is on


def test_the_lifespan_creates_the_key_and_starts_the_jobs_only_when_enabled(
        engine: Engine, tmp_path: Path) -> None:
    for enabled in (False, True):
        data_dir = tmp_path / f"var-{enabled}"
        settings = Settings(data_dir=data_dir, secret_key=TEST_SECRET, migrate_on_start=False, mqtt_enabled=False, run_scheduler=enabled)
        app = create_app(settings, engine=engine)
        with TestClient(app):
            assert stat.S_IMODE(signing_key_path(data_dir).stat().st_mode) == 0o600  # created on first run
            scheduler = app.state.manifest_scheduler
            assert (scheduler is not None and scheduler.running) is enabled
        assert scheduler is None or not scheduler.running
