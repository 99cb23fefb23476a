"""Migrations from empty to head on SQLite and PostgreSQL, matching the models, and /readyz."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel, select

from signage_server import models  # noqa: F401  (all tables on the metadata)
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import (
    _alembic_config,
    current_revision,
    head_revision,
    make_engine,
    migrate_to,
    upgrade_to_head,
)
from signage_server.manifests.models import ManifestRecord


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
    assert {"screens", "caption_revisions", "audit_events", "schedule_group_links"} <= tables
    assert "captions" not in tables  # one row per caption became revisions (0013)


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


def test_manifest_history_survives_compression_both_ways(empty_engine: Any) -> None:
    """0009 compresses every stored envelope; the published bytes and a downgrade give back the same text."""
    # More rows than one conversion batch (500), so the batches must follow each other by id.
    envelopes = [json.dumps({"body": {"screen_id": str(n), "text": "Chào mừng ស្វាគមន៍ " + "x" * (n % 300)},
                             "kind": "manifest"}, ensure_ascii=False) for n in range(1, 1202)]
    with empty_engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0008_alert_sequence")
        conn.execute(sa.text(
            "INSERT INTO manifest_records (screen_id, version, content_hash, issued_at, expires_at, horizon_start,"
            " horizon_end, key_id, envelope, asset_sha256s, excluded) VALUES (:s, 1, 'sha256:x', :t, :t, :t, :t,"
            " 'k', :e, '[]', '[]')"),
            [{"s": n, "t": "2026-01-01 00:00:00+00:00", "e": text} for n, text in enumerate(envelopes, start=1)])
    upgrade_to_head(empty_engine)
    with Session(empty_engine) as session:
        stored = {r.screen_id: r for r in session.exec(select(ManifestRecord)).all()}
        assert [stored[n].envelope_json.decode("utf-8") for n in range(1, len(envelopes) + 1)] == envelopes
        longest = max(range(1, len(envelopes) + 1), key=lambda n: len(envelopes[n - 1]))
        assert len(stored[longest].envelope_z) < len(envelopes[longest - 1].encode()) / 3
    with empty_engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0008_alert_sequence")
        back = conn.execute(sa.text("SELECT envelope FROM manifest_records ORDER BY screen_id")).scalars().all()
    assert back == envelopes


def test_old_play_records_keep_their_row_with_language_split_unknown(empty_engine: Any) -> None:
    """0010: rows recorded with one language per play are marked 'unknown', not given an invented split."""
    t = "2026-01-01 00:00:00+00:00"
    migrate_to(empty_engine, "0009_manifest_envelope_z")
    with empty_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sites (id, slug, name, district, timezone, created_at)"
                             " VALUES (1, 's', 'S', '', 'Asia/Ho_Chi_Minh', :t)"), {"t": t})
        conn.execute(sa.text(
            "INSERT INTO screens (id, site_id, name, width_px, height_px, pixel_pitch_mm, orientation, layout,"
            " languages, foreign_ratio, enrolment, manifest_version, created_at, updated_at) VALUES"
            " (1, 1, 'gate', 64, 32, 5, 'landscape', 'stacked', '[\"vi\"]', 0.75, 'enrolled', 0, :t, :t)"), {"t": t})
        conn.execute(sa.text(
            "INSERT INTO play_log (screen_id, record_id, slide_id, playlist_id, language, manifest_version,"
            " started_at, duration_ms, frame_hash, received_at) VALUES"
            " (1, 'r1', '5', '2', 'vi', '3', :t, 10000, :h, :t)"), {"t": t, "h": "ab" * 32})
    upgrade_to_head(empty_engine)
    with empty_engine.begin() as conn:
        row = conn.execute(sa.text("SELECT language, language_split, duration_ms, interrupted, clock_jump_ms"
                                   " FROM play_log")).one()
        assert tuple(row) == ("vi", "unknown", 10000, False, 0)
        assert conn.execute(sa.text("SELECT COUNT(*) FROM play_log_segments")).scalar() == 0
    # Down through 0011, which copies `screens` on SQLite: the play records stay (no cascade).
    migrate_to(empty_engine, "0009_manifest_envelope_z", down=True)
    with empty_engine.begin() as conn:
        assert conn.execute(sa.text("SELECT language FROM play_log")).scalar() == "vi"


def test_captions_become_revisions_with_the_approved_ones_live(empty_engine: Any) -> None:
    """0013: an approved caption becomes the live revision, any other the pending one; ids kept (audit points at
    them); translations record the slide's Vietnamese as their source; the id sequence moves past the copies."""
    migrate_to(empty_engine, "0009_manifest_envelope_z")
    with empty_engine.begin() as conn:
        t = "2026-01-01 00:00:00+00:00"
        conn.execute(sa.text("INSERT INTO slides (id, name, created_at, updated_at) VALUES (1, 'a', :t, :t),"
                             " (2, 'b', :t, :t)"), {"t": t})
        conn.execute(sa.text(
            "INSERT INTO captions (id, slide_id, language, text, state, updated_at, approved_at) VALUES"
            " (10, 1, 'vi', 'Chào mừng', 'approved', :t, :t), (11, 1, 'en', 'Welcome', 'approved', :t, :t),"
            " (12, 1, 'km', 'សូមស្វាគមន៍', 'submitted', :t, NULL), (13, 2, 'vi', 'Nháp', 'draft', :t, NULL)"),
            {"t": t})
    upgrade_to_head(empty_engine)
    with empty_engine.begin() as conn:
        rows = {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(
            "SELECT id, language, state, source_id, version FROM caption_revisions ORDER BY id")).all()}
        assert rows == {10: ("vi", "approved", None, 1), 11: ("en", "approved", 10, 1),
                        12: ("km", "submitted", 10, 1), 13: ("vi", "draft", None, 1)}
        conn.execute(sa.text(
            "INSERT INTO caption_revisions (slide_id, language, text, state, urgent, version, created_at, updated_at)"
            " VALUES (1, 'vi', 'Mới', 'draft', false, 1, :t, :t)"), {"t": "2026-01-02 00:00:00+00:00"})
        assert conn.execute(sa.text("SELECT max(id) FROM caption_revisions")).scalar_one() > 13
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():  # a second live revision is refused
            conn.execute(sa.text("UPDATE caption_revisions SET state = 'approved' WHERE text = 'Mới'"))
    migrate_to(empty_engine, "0009_manifest_envelope_z", down=True)
    with empty_engine.begin() as conn:
        back = conn.execute(sa.text("SELECT id, text, state FROM captions ORDER BY id")).all()
        # One row per slide and language again: the pending text where there is one, else the live one.
        assert [tuple(r) for r in back] == [(11, "Welcome", "approved"), (12, "សូមស្វាគមន៍", "submitted"),
                                            (13, "Nháp", "draft"), (14, "Mới", "draft")]
