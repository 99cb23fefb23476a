"""Migrations from empty to head on SQLite and PostgreSQL, matching the models, and /readyz."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from signage_server import models  # noqa: F401  (all tables on the metadata)
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import current_revision, head_revision, make_engine, upgrade_to_head


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, fresh_database: Any) -> Any:
    engine = make_engine(fresh_database(request.param))
    yield engine
    engine.dispose()


def test_upgrade_from_empty_to_head_twice(empty_engine: Any) -> None:
    assert current_revision(empty_engine) is None
    upgrade_to_head(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    upgrade_to_head(empty_engine)  # idempotent: runs on every start
    assert current_revision(empty_engine) == head_revision()
    tables = set(sa.inspect(empty_engine).get_table_names())
    assert {"screens", "captions", "audit_events", "schedule_group_links"} <= tables


def test_migrations_match_the_models(empty_engine: Any) -> None:
    upgrade_to_head(empty_engine)
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_readyz_reports_migration_state(empty_engine: Any, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="r" * 40, migrate_on_start=False)
    client = TestClient(create_app(settings, engine=empty_engine))
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 503
    upgrade_to_head(empty_engine)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["migration"] == head_revision()


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_app_start_migrates(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 40, mqtt_enabled=False)
    with TestClient(create_app(settings)) as client:  # the lifespan runs the migrations
        assert client.get("/readyz").status_code == 200
    assert (tmp_path / "signage.db").exists()
