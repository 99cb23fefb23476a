"""The signing key as an administrator handles it: created 0600 on first run, fingerprint, rotation by hand-over."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from signage_core.manifest import verify_manifest
from signage_core.signing import Rejection, TrustStore, VerificationError, load_private_key
from signage_server.cli import app
from signage_server.db import make_engine, upgrade_to_head
from signage_server.manifests import service as manifests
from signage_server.manifests.keys import KeyRing, signing_key_path
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import ROLES
from tests.server.world import NOW, build_world

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return {"SIGNAGE_DATA_DIR": str(tmp_path / "var"), "SIGNAGE_SECRET_KEY": None, "SIGNAGE_DATABASE_URL": None,
            "SIGNAGE_DEV": None}


def test_fingerprint_creates_a_private_key_once(env: dict[str, str | None], tmp_path: Path) -> None:
    first = runner.invoke(app, ["key", "fingerprint"], env=env)
    assert first.exit_code == 0, first.output
    path = signing_key_path(tmp_path / "var")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    public = load_private_key(path).public_key
    assert public.fingerprint in first.output and public.key_id in first.output
    again = runner.invoke(app, ["key", "fingerprint"], env=env)
    assert again.output == first.output  # the same key, not a new one per run


def test_rotation_moves_a_player_over_only_through_the_signed_handover(
        env: dict[str, str | None], tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    engine = make_engine(f"sqlite:///{data_dir / 'signage.db'}")
    upgrade_to_head(engine)
    ring = KeyRing(data_dir)
    old_key = ring.current()
    now = datetime.now(UTC)  # the CLI reads the wall clock, so the manifests must be current
    with Session(engine, expire_on_commit=False) as session:
        users = {}
        for name, (role, langs) in ROLES.items():
            users[name] = User(username=name, display_name=name, role=role, languages=langs, password_hash="x",
                               created_at=NOW)
            session.add(users[name])
        session.flush()
        world = build_world(session, users)
        slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
        first = manifests.compile_screen(session, screen_id=world["screen"], key=old_key, now=now)
        session.commit()
    assert first.record is not None and first.record.key_id == old_key.key_id
    player = TrustStore.of(old_key.public_key)  # provisioned at install time

    result = runner.invoke(app, ["key", "rotate", "--grace-hours", "1"], env=env)
    assert result.exit_code == 0, result.output
    new_key = ring.current()
    assert new_key.key_id != old_key.key_id and f"{old_key.key_id} -> {new_key.key_id}" in result.output
    assert stat.S_IMODE(signing_key_path(data_dir).stat().st_mode) == 0o600
    assert (data_dir / "keys" / "retired" / f"{old_key.key_id}.pem").exists()  # kept, never lost
    assert "re-signed 1 manifest" in result.output

    with Session(engine) as session:
        latest = manifests.latest_manifest(session, screen_id=world["screen"])
    assert latest is not None and latest.version == 2 and latest.key_id == new_key.key_id
    assert latest.content_hash == first.record.content_hash  # same content, new signature
    check = {"screen_id": str(world["screen"]), "last_version": 1, "now": now}
    with pytest.raises(VerificationError) as refused:
        verify_manifest(latest.envelope, trust=player, **check)  # type: ignore[arg-type]
    assert refused.value.reason is Rejection.UNKNOWN_KEY

    [handover] = ring.handovers()
    handover_file = next((data_dir / "keys" / "handovers").glob("*.json"))
    assert json.loads(handover_file.read_text())["key_id"] == old_key.key_id  # signed by the old key
    moved = player.accept_handover(handover, now=now)
    body = verify_manifest(latest.envelope, trust=moved, **check)  # type: ignore[arg-type]
    assert body.version == 2 and body.screen_id == str(world["screen"])
    engine.dispose()


def test_rotate_refuses_a_key_file_others_can_read(
        env: dict[str, str | None], tmp_path: Path) -> None:
    assert runner.invoke(app, ["key", "fingerprint"], env=env).exit_code == 0
    path = signing_key_path(tmp_path / "var")
    path.chmod(0o644)
    result = runner.invoke(app, ["key", "rotate"], env=env)
    assert result.exit_code == 1 and "cannot rotate the signing key" in result.output and "chmod 600" in result.output
    assert not (tmp_path / "var" / "keys" / "handovers").exists()  # nothing half-done
