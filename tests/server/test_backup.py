"""Backup and restore: a wiped server comes back with the same rows, files, accounts and signing key."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pwd
import shutil
import stat
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from signage_core.signing import SigningKey, load_private_key, save_private_key
from signage_server.assets import service as assets
from signage_server.assets.store import AssetStore
from signage_server.backup.service import (
    MANIFEST_NAME,
    BackupError,
    BackupManifest,
    Member,
    create_backup,
    dump_tables,
    restore_backup,
    verify_archive,
)
from signage_server.cli import app as cli_app
from signage_server.db import head_revision, make_engine, upgrade_to_head
from signage_server.screens import service as screens
from signage_server.screens.models import Site
from signage_server.users.models import Role, User
from tests.server.conftest import ROLES, TEST_SECRET
from tests.server.world import png

NOW = datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
BODY = json.dumps({"screen_id": "hoa-lu-arrivals", "version": 7}).encode()
MakeDb = Callable[[str], str]


def _populate(url: str, data_dir: Path, password_hash: str) -> None:
    """A realistic server: the test world, two stored images, a signing key and broker accounts."""
    from tests.server.world import build_world

    engine = make_engine(url)
    upgrade_to_head(engine)
    with Session(engine, expire_on_commit=False) as session:
        users: dict[str, User] = {}
        for username, (role, langs) in ROLES.items():
            user = User(username=username, display_name=f"Người dùng {username}", role=role, languages=langs,
                        password_hash=password_hash, created_at=NOW)
            session.add(user)
            session.flush()
            users[username] = user
        build_world(session, users)
        store = AssetStore(data_dir / "assets")
        for colour in ((200, 30, 30), (10, 120, 40)):
            assets.store_image(session, actor=users["operator"], store=store, data=png(colour=colour),
                               max_bytes=1 << 20, max_pixels=1 << 20, now=NOW)
        session.commit()
    engine.dispose()
    save_private_key(SigningKey.generate(), data_dir / "keys" / "manifest-signing.pem")
    broker = data_dir / "broker"
    (broker / "persistence").mkdir(parents=True)
    (broker / "dynamic-security.json").write_text('{"clients": [{"username": "screen-1"}]}')
    os.chmod(broker / "dynamic-security.json", 0o600)
    (broker / "server-account.json").write_text('{"username": "signage-server", "password": "p"}')
    (broker / "persistence" / "mosquitto.db").write_bytes(b"retained state rebuilt on start")
    (broker / "mosquitto.log").write_text("runtime noise")
    (data_dir / "transport.lock").write_text('{"owner": "a server that ran here"}')
    (data_dir / "secret_key").write_text(TEST_SECRET)
    os.chmod(data_dir / "secret_key", 0o600)


def _rows(url: str) -> dict[str, list[dict[str, object]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name: [json.loads(line) for line in data.splitlines()] for name, data, _n in dump_tables(conn)}
    finally:
        engine.dispose()


def _files(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    out: dict[str, tuple[bytes, int]] = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and path.suffix != ".db" and "-wal" not in path.name and "-shm" not in path.name:
            out[path.relative_to(data_dir).as_posix()] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return out


def _wipe(url: str, data_dir: Path) -> None:
    """What a lost server looks like: no schema, no rows, no data dir."""
    engine = make_engine(url)
    with engine.begin() as conn:
        metadata = sa.MetaData()
        metadata.reflect(bind=conn)
        metadata.drop_all(bind=conn)
    engine.dispose()
    shutil.rmtree(data_dir)


@pytest.fixture
def server(db_kind: str, fresh_database: MakeDb, tmp_path: Path, password_hash: str) -> tuple[str, Path]:
    url = fresh_database(db_kind)
    data_dir = tmp_path / "var"
    _populate(url, data_dir, password_hash)
    return url, data_dir


def test_backup_wipe_restore_gives_back_rows_files_and_the_same_signing_key(
        server: tuple[str, Path], tmp_path: Path) -> None:
    url, data_dir = server
    key_path = data_dir / "keys" / "manifest-signing.pem"
    original = load_private_key(key_path)
    signed_before = original.sign(BODY)
    rows_before, files_before = _rows(url), _files(data_dir)
    archive = tmp_path / "backups" / "signage.tar.gz"

    manifest = create_backup(database_url=url, data_dir=data_dir, out=archive, now=NOW)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600  # it holds private keys
    assert manifest.tables["sites"] == 2 and manifest.tables["assets"] == 2
    _wipe(url, data_dir)
    report = restore_backup(archive=archive, database_url=url, data_dir=data_dir)

    assert _rows(url) == rows_before
    kept = {k: v for k, v in files_before.items()
            if not k.startswith("broker/persistence") and k not in ("broker/mosquitto.log", "transport.lock")}
    assert _files(data_dir) == kept  # same bytes, same modes; runtime broker state left out
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert report.files == len(kept) and report.tables == manifest.tables
    restored = load_private_key(key_path)
    assert restored.public_key.verify(signed_before, BODY)
    assert original.public_key.verify(restored.sign(BODY), BODY)
    # The restored server keeps numbering after the restored rows instead of colliding with them.
    engine = make_engine(url)
    with Session(engine) as session:
        admin = session.exec(select(User).where(User.role == Role.ADMIN)).one()
        site = screens.create_site(session, actor=admin, slug="bu-dop", name="Bù Đốp – Hoàng Diệu", now=NOW)
        session.commit()
        assert site.id is not None and site.id > max(int(str(r["id"])) for r in rows_before["sites"])
    engine.dispose()


def test_restore_refuses_a_server_with_content_unless_forced(server: tuple[str, Path], tmp_path: Path) -> None:
    url, data_dir = server
    archive = tmp_path / "b.tar.gz"
    create_backup(database_url=url, data_dir=data_dir, out=archive, now=NOW)
    rows_at_backup = _rows(url)
    engine = make_engine(url)
    with Session(engine) as session:
        session.add(Site(slug="added-later", name="Added after the backup", created_at=NOW))
        session.commit()
    engine.dispose()
    (data_dir / "assets" / "stray.bin").write_bytes(b"not in the backup")

    with pytest.raises(BackupError, match="not empty.*--force"):
        restore_backup(archive=archive, database_url=url, data_dir=data_dir)
    assert any(r["slug"] == "added-later" for r in _rows(url)["sites"])

    restore_backup(archive=archive, database_url=url, data_dir=data_dir, force=True)
    assert _rows(url) == rows_at_backup
    assert not (data_dir / "assets" / "stray.bin").exists()
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".restore")]  # no staging left behind


def _rewrite(archive: Path, out: Path, change: Callable[[str, bytes], bytes]) -> None:
    """Copy an archive with one member's bytes changed, keeping the original manifest."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for info in src:
            handle = src.extractfile(info)
            assert handle is not None
            data = change(info.name, handle.read())
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_a_corrupted_archive_changes_nothing(server: tuple[str, Path], tmp_path: Path) -> None:
    url, data_dir = server
    archive = tmp_path / "good.tar.gz"
    create_backup(database_url=url, data_dir=data_dir, out=archive, now=NOW)
    rows, files = _rows(url), _files(data_dir)
    bad = tmp_path / "bad.tar.gz"
    # Flip one byte of the signing key: a restore would otherwise install a key no player trusts.
    _rewrite(archive, bad, lambda name, data: data[:40] + bytes([data[40] ^ 1]) + data[41:]
             if name == "data/keys/manifest-signing.pem" else data)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    with pytest.raises(BackupError, match="manifest-signing.pem.*SHA-256"):
        restore_backup(archive=bad, database_url=url, data_dir=data_dir, force=True)
    with pytest.raises(BackupError, match="corrupt"):
        restore_backup(archive=truncated, database_url=url, data_dir=data_dir, force=True)
    assert _rows(url) == rows
    assert _files(data_dir) == files


def _hand_made(path: Path, members: list[tarfile.TarInfo], payloads: dict[str, bytes]) -> None:
    manifest = BackupManifest(created_at=NOW, alembic_revision="0001", source_dialect="sqlite")
    manifest.members = [Member(name, hashlib.sha256(data).hexdigest(), len(data), 0o644)
                        for name, data in payloads.items()]
    with tarfile.open(path, "w:gz") as tar:
        head = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(head)
        tar.addfile(info, io.BytesIO(head))
        for member in members:
            data = payloads.get(member.name, b"")
            member.size = len(data) if member.isreg() else 0
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)


@pytest.mark.parametrize("name", ["data/../../escaped", "/etc/escaped", "data/assets/../../../escaped"])
def test_a_member_escaping_the_data_dir_is_refused(name: str, tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    _hand_made(archive, [tarfile.TarInfo(name)], {name: b"owned"})
    data_dir = tmp_path / "a" / "b" / "var"
    with pytest.raises(BackupError, match="unsafe path"):
        restore_backup(archive=archive, database_url=f"sqlite:///{tmp_path / 'x.db'}", data_dir=data_dir)
    assert not list(tmp_path.rglob("escaped"))
    assert not (tmp_path / "x.db").exists()


def test_a_link_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar.gz"
    link = tarfile.TarInfo("data/keys/manifest-signing.pem")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/shadow"
    _hand_made(archive, [link], {"data/keys/manifest-signing.pem": b""})
    with pytest.raises(BackupError, match="link or special file"):
        verify_archive(archive)


def test_a_member_missing_from_the_manifest_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "extra.tar.gz"
    _hand_made(archive, [tarfile.TarInfo("data/keys/extra.pem")], {})
    with pytest.raises(BackupError, match="not listed"):
        verify_archive(archive)


def test_a_sqlite_backup_restores_into_postgresql(
        db_kind: str, fresh_database: MakeDb, tmp_path: Path, password_hash: str) -> None:
    if db_kind != "postgres":
        pytest.skip("one direction is enough: runs once, in the PostgreSQL module pass")
    source, target = fresh_database("sqlite"), fresh_database("postgres")
    _populate(source, tmp_path / "old", password_hash)
    archive = tmp_path / "move.tar.gz"
    create_backup(database_url=source, data_dir=tmp_path / "old", out=archive, now=NOW)
    restore_backup(archive=archive, database_url=target, data_dir=tmp_path / "new")
    assert _rows(target) == _rows(source)
    assert _files(tmp_path / "new")["keys/manifest-signing.pem"] == _files(tmp_path / "old")["keys/manifest-signing.pem"]


def test_backup_is_consistent_while_the_server_writes(
        db_kind: str, server: tuple[str, Path], tmp_path: Path) -> None:
    url, data_dir = server
    engine = make_engine(url)
    # An open write transaction during the backup: its rows must not appear half-way.
    with engine.connect() as writer:
        trans = writer.begin()
        writer.execute(sa.text("UPDATE sites SET name = 'uncommitted'"))
        create_backup(database_url=url, data_dir=data_dir, out=tmp_path / "live.tar.gz", now=NOW)
        trans.rollback()
    engine.dispose()
    with tarfile.open(tmp_path / "live.tar.gz", "r:gz") as tar:
        handle = tar.extractfile("db/sites.jsonl")
        assert handle is not None
        names = {json.loads(line)["name"] for line in handle.read().splitlines()}
    assert "uncommitted" not in names and "Lộc Ninh – Hoa Lư" in names


def test_cli_backup_then_restore(db_kind: str, fresh_database: MakeDb, tmp_path: Path, password_hash: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if db_kind != "sqlite":
        pytest.skip("the command line is the same on both backends")
    url = fresh_database("sqlite")
    data_dir = tmp_path / "var"
    _populate(url, data_dir, password_hash)
    monkeypatch.setenv("SIGNAGE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SIGNAGE_DATABASE_URL", url)
    monkeypatch.delenv("SIGNAGE_SECRET_KEY", raising=False)
    runner = CliRunner()
    out = tmp_path / "cli.tar.gz"

    made = runner.invoke(cli_app, ["backup", str(out)])
    assert made.exit_code == 0, made.output
    assert "tables" in made.output and f"schema {head_revision()}" in made.output
    refused = runner.invoke(cli_app, ["restore", str(out)])
    assert refused.exit_code == 1 and "--force" in refused.output
    done = runner.invoke(cli_app, ["restore", str(out), "--force"])
    assert done.exit_code == 0, done.output
    missing = runner.invoke(cli_app, ["restore", str(tmp_path / "nope.tar.gz")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_restore_as_root_gives_files_back_to_their_owners(server: tuple[str, Path], tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can hand files to other users")
    url, data_dir = server
    nobody = pwd.getpwnam("nobody")
    # Production: the broker owns its dynsec state, the server its keys; a restore must keep both working.
    os.chown(data_dir / "broker" / "dynamic-security.json", nobody.pw_uid, nobody.pw_gid)
    archive = tmp_path / "owners.tar.gz"
    create_backup(database_url=url, data_dir=data_dir, out=archive, now=NOW)
    _wipe(url, data_dir)
    restore_backup(archive=archive, database_url=url, data_dir=data_dir)
    assert (data_dir / "broker" / "dynamic-security.json").stat().st_uid == nobody.pw_uid
    assert (data_dir / "keys" / "manifest-signing.pem").stat().st_uid == 0


def test_a_file_changing_during_the_backup_fails_it_and_leaves_no_archive(
        db_kind: str, server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if db_kind != "sqlite":
        pytest.skip("file handling is the same on both backends")
    url, data_dir = server
    from signage_server.backup import service

    real_hash = service._hash_file
    key_path = data_dir / "keys" / "manifest-signing.pem"

    def hash_then_rotate(path: Path) -> tuple[str, int]:
        result = real_hash(path)
        if path == key_path:  # the key is replaced between hashing and archiving
            save_private_key(SigningKey.generate(), key_path, overwrite=True)
        return result

    monkeypatch.setattr(service, "_hash_file", hash_then_rotate)
    out = tmp_path / "out" / "changing.tar.gz"
    with pytest.raises(BackupError, match="changed during the backup"):
        create_backup(database_url=url, data_dir=data_dir, out=out, now=NOW)
    assert list(out.parent.iterdir()) == []  # no archive, no temp folder
