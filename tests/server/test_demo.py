"""The demo commands run-local relies on: accounts once, approval only in dev mode and as the right people."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from signage_server.cli import app

runner = CliRunner()
PLAYLISTS = Path(__file__).resolve().parents[2] / "playlists"


def _env(tmp_path: Path, *, dev: bool) -> dict[str, str | None]:
    return {"SIGNAGE_DATA_DIR": str(tmp_path / "var"), "SIGNAGE_SECRET_KEY": None, "SIGNAGE_DATABASE_URL": None,
            "SIGNAGE_DEV": "1" if dev else None}


def _rows(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'signage.db'}")
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).all()]


def test_demo_approve_is_refused_outside_dev_mode_and_changes_nothing(tmp_path: Path) -> None:
    assert runner.invoke(app, ["import-playlists", str(PLAYLISTS)], env=_env(tmp_path, dev=False)).exit_code == 0
    result = runner.invoke(app, ["demo-approve"], env=_env(tmp_path, dev=False))
    assert result.exit_code == 1 and "SIGNAGE_DEV=1" in result.output
    assert _rows(tmp_path, "SELECT count(*) FROM caption_revisions WHERE state = 'approved'") == [(0,)]
    assert runner.invoke(app, ["demo-accounts"], env=_env(tmp_path, dev=False)).exit_code == 1


def test_demo_accounts_once_then_approval_by_translators_and_approver(tmp_path: Path) -> None:
    env = _env(tmp_path, dev=True)
    assert runner.invoke(app, ["import-playlists", str(PLAYLISTS)], env=env).exit_code == 0
    first = runner.invoke(app, ["demo-accounts"], env=env)
    assert first.exit_code == 0 and first.output.count("password (shown once)") == 5
    again = runner.invoke(app, ["demo-accounts"], env=env)
    assert again.exit_code == 0 and "password" not in again.output

    result = runner.invoke(app, ["demo-approve"], env=env)
    assert result.exit_code == 0, result.output
    assert _rows(tmp_path, "SELECT count(*) FROM caption_revisions WHERE state <> 'approved'") == [(0,)]
    assert _rows(tmp_path, "SELECT count(*) FROM slides WHERE approved_at IS NULL") == [(0,)]
    # Audited as the people the workflow names: each language by its translator, Vietnamese and slides by the approver.
    by = dict(_rows(tmp_path, "SELECT c.language, u.username FROM caption_revisions c JOIN users u ON u.id = c.approved_by_id "
                              "GROUP BY c.language, u.username"))
    assert by == {"vi": "approver", "en": "translator-en", "km": "translator-km"}
    actors = {r[0] for r in _rows(tmp_path, "SELECT actor_name FROM audit_events WHERE action = 'slide.approve'")}
    assert actors == {"approver"}
    # Every screen of the imported content got a signed manifest.
    assert _rows(tmp_path, "SELECT count(DISTINCT screen_id) FROM manifest_records") == _rows(
        tmp_path, "SELECT count(*) FROM screens")

    code = runner.invoke(app, ["enrolment-code", "hoa-lu-arrivals"], env=env)
    assert code.exit_code == 0 and len(code.output.strip()) >= 8
    missing = runner.invoke(app, ["enrolment-code", "no-such-screen"], env=env)
    assert missing.exit_code == 1 and "no-such-screen" in missing.output
