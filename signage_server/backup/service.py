"""Backup and restore: database, assets, keys and broker security state in one verifiable archive."""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import io
import json
import os
import pwd
import shutil
import sqlite3
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from uuid import UUID

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError

from signage_server.db import _alembic_config, make_engine, migrating

FORMAT = "signage-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "MANIFEST.json"
DB_PREFIX = "db/"
FILES_PREFIX = "data/"
_CHUNK = 1024 * 1024
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024

# Runtime state that is rebuilt on start or is worthless elsewhere: never archived, never replaced.
_EXCLUDED_TOP = {"backups", "broker/persistence", "broker/mosquitto.conf", "broker/mosquitto.log",
                 "broker/mosquitto.pid", "transport.lock"}
_EXCLUDED_SUFFIXES = (".tmp", ".pid", ".sock", ".log", "-wal", "-shm", "-journal")


class BackupError(Exception):
    """A backup or restore refused, with a message naming what is wrong and what to do."""


@dataclass(frozen=True, slots=True)
class Member:
    """One archived file: its name in the archive, SHA-256, size and permission bits."""

    name: str
    sha256: str
    size: int
    mode: int


@dataclass(slots=True)
class BackupManifest:
    """The first member of every archive: what is inside, and which schema the rows belong to."""

    created_at: datetime
    alembic_revision: str
    source_dialect: str
    tables: dict[str, int] = field(default_factory=dict)
    directories: dict[str, int] = field(default_factory=dict)
    # Owner and group names of each data file and folder: on restore as root, broker state stays
    # the broker's and keys stay the server's.
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_at": self.created_at.isoformat(), "alembic_revision": self.alembic_revision,
            "source_dialect": self.source_dialect, "tables": self.tables,
            "directories": {k: oct(v) for k, v in self.directories.items()},
            "owners": {k: list(v) for k, v in self.owners.items()},
            "members": [{"name": m.name, "sha256": m.sha256, "size": m.size, "mode": oct(m.mode)}
                        for m in self.members],
        }, indent=1, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> BackupManifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise BackupError(f"{MANIFEST_NAME} is not a signage backup manifest")
            if raw.get("format_version") != FORMAT_VERSION:
                raise BackupError(f"backup format version {raw.get('format_version')} is not supported "
                                  f"(this server reads version {FORMAT_VERSION})")
            return cls(
                created_at=datetime.fromisoformat(raw["created_at"]),
                alembic_revision=str(raw["alembic_revision"]),
                source_dialect=str(raw["source_dialect"]),
                tables={str(k): int(v) for k, v in raw["tables"].items()},
                directories={str(k): int(v, 8) for k, v in raw["directories"].items()},
                owners={str(k): (str(v[0]), str(v[1])) for k, v in raw.get("owners", {}).items()},
                members=[Member(str(m["name"]), str(m["sha256"]), int(m["size"]), int(m["mode"], 8))
                         for m in raw["members"]],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupError(f"{MANIFEST_NAME} is malformed: {exc}") from None


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore put back, for the operator's terminal."""

    alembic_revision: str
    tables: dict[str, int]
    files: int


# -- value encoding: JSON lines that any SQLAlchemy backend can read back


def _encode(value: object) -> object:
    """A column value as JSON; datetimes in UTC ISO form so SQLite and PostgreSQL agree."""
    if isinstance(value, datetime):
        # SQLite hands back naive values; the schema stores every datetime in UTC.
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal | UUID):
        return str(value)
    return value


def _decode(value: object, column: sa.Column[Any]) -> object:
    """Turn a JSON value back into what the target column's type expects."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sa.DateTime):
        parsed = datetime.fromisoformat(str(value))
        return parsed.astimezone(UTC) if kind.timezone else parsed.astimezone(UTC).replace(tzinfo=None)
    if isinstance(kind, sa.Date):
        return date.fromisoformat(str(value))
    if isinstance(kind, sa.Time):
        return time.fromisoformat(str(value))
    if isinstance(kind, sa.Interval):
        return timedelta(seconds=float(str(value)))
    if isinstance(kind, sa.LargeBinary):
        return base64.b64decode(str(value))
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return Decimal(str(value))
    if isinstance(kind, sa.Uuid):
        return UUID(str(value))
    return value


def _user_tables(connection: sa.Connection) -> list[sa.Table]:
    """Every application table in foreign-key order (parents first), reflected from the database."""
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    return [t for t in metadata.sorted_tables if t.name != "alembic_version"]


def _ordered_select(table: sa.Table) -> sa.Select[Any]:
    keys = list(table.primary_key.columns) or list(table.columns)
    return sa.select(table).order_by(*keys)


def write_table(connection: sa.Connection, table: sa.Table, handle: BinaryIO) -> int:
    """Stream one table as JSON lines (one object per row, keyed by column); returns the row count."""
    count = 0
    # yield_per streams (a server-side cursor on PostgreSQL): play records never sit in memory whole.
    result = connection.execution_options(yield_per=2000).execute(_ordered_select(table))
    for row in result.mappings():
        line = {name: _encode(value) for name, value in row.items()}
        handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
        count += 1
    return count


def dump_tables(connection: sa.Connection) -> Iterator[tuple[str, bytes, int]]:
    """Each table as JSON lines in memory, in dependency order: for comparisons and small exports."""
    for table in _user_tables(connection):
        buf = io.BytesIO()
        count = write_table(connection, table, buf)
        yield table.name, buf.getvalue(), count


# -- backup


def _sqlite_path(url: str) -> Path | None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored; set SIGNAGE_DATABASE_URL")
    return Path(parsed.database)


@contextlib.contextmanager
def _consistent_connection(url: str, workdir: Path) -> Iterator[sa.Connection]:
    """A connection that sees one instant of the database while the server keeps writing."""
    sqlite_file = _sqlite_path(url)
    if sqlite_file is not None:
        if not sqlite_file.exists():
            raise BackupError(f"database file {sqlite_file} does not exist")
        snapshot = workdir / "snapshot.db"
        # SQLite's online backup API copies a consistent image even with writers active.
        source = sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True, timeout=30)
        target = sqlite3.connect(snapshot)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        engine = make_engine(f"sqlite:///{snapshot}")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()
        return
    engine = make_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            # One snapshot transaction: every table is read as of the same moment.
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn
    finally:
        engine.dispose()


def _excluded(relative: str, db_file: Path | None, data_dir: Path) -> bool:
    if any(relative == top or relative.startswith(top + "/") for top in _EXCLUDED_TOP):
        return True
    if relative.endswith(_EXCLUDED_SUFFIXES) or PurePosixPath(relative).name.startswith(".restore-"):
        return True
    if db_file is not None:
        resolved = (data_dir / relative).resolve()
        for suffix in ("", "-wal", "-shm", "-journal"):
            if resolved == Path(str(db_file.resolve()) + suffix):
                return True
    return False


def _data_files(data_dir: Path, db_file: Path | None) -> tuple[list[tuple[str, Path]], dict[str, int]]:
    """Files and folders of the data dir worth keeping, as (archive-relative name, path)."""
    files: list[tuple[str, Path]] = []
    directories: dict[str, int] = {}
    if not data_dir.exists():
        return files, directories
    for root, dirnames, filenames in os.walk(data_dir):
        root_path = Path(root)
        rel_root = root_path.relative_to(data_dir).as_posix()
        kept: list[str] = []
        for name in sorted(dirnames):
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            path = root_path / name
            if path.is_symlink() or _excluded(rel, db_file, data_dir):
                continue
            directories[rel] = stat.S_IMODE(path.stat().st_mode)
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            path = root_path / name
            if path.is_symlink() or not path.is_file() or _excluded(rel, db_file, data_dir):
                continue
            files.append((rel, path))
    return files, directories


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


class _HashingReader:
    """A file wrapper that hashes what tarfile reads, so the archived bytes are the hashed bytes."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.digest.update(data)
        return data


def _add_file(tar: tarfile.TarFile, member: Member, path: Path) -> None:
    """Add a file under its manifest name; one that changed since it was hashed fails the backup."""
    info = tarfile.TarInfo(member.name)
    info.size = member.size
    info.mode = member.mode
    info.mtime = int(path.stat().st_mtime)
    try:
        with path.open("rb") as handle:
            reader = _HashingReader(handle)
            tar.addfile(info, reader)
    except OSError as exc:  # tarfile's "unexpected end of data" when a file shrank
        raise BackupError(f"{path} changed during the backup ({exc}); run the backup again") from None
    if reader.digest.hexdigest() != member.sha256:
        raise BackupError(f"{path} changed during the backup; run the backup again")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def create_backup(*, database_url: str, data_dir: Path, out: Path, now: datetime) -> BackupManifest:
    """Write one tar.gz holding every table, the data dir's files and a manifest of their hashes."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    db_file = _sqlite_path(database_url)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=out.parent) as work_name:
        work = Path(work_name)
        dumps: list[tuple[str, Path]] = []
        manifest = BackupManifest(created_at=now, alembic_revision="", source_dialect="")
        with _consistent_connection(database_url, work) as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
                if sa.inspect(conn).has_table("alembic_version") else None
            if revision is None:
                raise BackupError("the database was never migrated; run `signage-server migrate` first")
            manifest.alembic_revision = str(revision)
            manifest.source_dialect = conn.dialect.name
            for index, table in enumerate(_user_tables(conn)):
                path = work / f"t{index}.jsonl"
                with path.open("wb") as handle:
                    manifest.tables[table.name] = write_table(conn, table, handle)
                dumps.append((f"{DB_PREFIX}{table.name}.jsonl", path))
        for name, path in dumps:
            digest, size = _hash_file(path)
            manifest.members.append(Member(name, digest, size, 0o600))
        files, manifest.directories = _data_files(data_dir, db_file)
        for rel in [*manifest.directories, *(rel for rel, _p in files)]:
            owned = (data_dir / rel).stat()
            manifest.owners[rel] = (_user_name(owned.st_uid), _group_name(owned.st_gid))
        for rel, path in files:
            digest, size = _hash_file(path)
            manifest.members.append(Member(FILES_PREFIX + rel, digest, size, stat.S_IMODE(path.stat().st_mode)))
        sources = {**dict(dumps), **{FILES_PREFIX + rel: path for rel, path in files}}
        partial = work / "archive.tar.gz"
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            _add_bytes(tar, MANIFEST_NAME, manifest.to_json(), 0o600)
            for member in manifest.members:
                _add_file(tar, member, sources[member.name])
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        # The archive holds private keys: readable by its owner only.
        os.chmod(partial, 0o600)
        os.replace(partial, out)
    dir_fd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return manifest


# -- restore


def _safe_name(name: str) -> PurePosixPath:
    """Refuse absolute names, '..' and anything that would land outside the restore folder."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\x00" in name:
        raise BackupError(f"archive member {name!r} has an unsafe path; the archive is refused")
    return path


def _read_manifest(tar: tarfile.TarFile) -> tuple[BackupManifest, tarfile.TarInfo]:
    first = tar.next()
    if first is None or first.name != MANIFEST_NAME or not first.isreg():
        raise BackupError(f"{MANIFEST_NAME} must be the archive's first member; is this a signage backup?")
    if first.size > _MAX_MANIFEST_BYTES:
        raise BackupError(f"{MANIFEST_NAME} is implausibly large ({first.size} bytes)")
    handle = tar.extractfile(first)
    if handle is None:
        raise BackupError(f"{MANIFEST_NAME} cannot be read")
    return BackupManifest.from_json(handle.read()), first


def verify_archive(archive: Path) -> BackupManifest:
    """Read the whole archive once: every member safe, listed, and matching its SHA-256."""
    if not archive.is_file():
        raise BackupError(f"archive {archive} does not exist")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest, first = _read_manifest(tar)
            expected = {m.name: m for m in manifest.members}
            seen: set[str] = set()
            for info in tar:
                if info is first:
                    continue
                _safe_name(info.name)
                if not info.isreg():
                    raise BackupError(f"archive member {info.name!r} is a link or special file; the archive is refused")
                member = expected.get(info.name)
                if member is None:
                    raise BackupError(f"archive member {info.name!r} is not listed in {MANIFEST_NAME}")
                if info.name in seen:
                    raise BackupError(f"archive member {info.name!r} appears twice")
                seen.add(info.name)
                handle = tar.extractfile(info)
                if handle is None:
                    raise BackupError(f"archive member {info.name!r} cannot be read")
                digest = hashlib.sha256()
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                if digest.hexdigest() != member.sha256 or info.size != member.size:
                    raise BackupError(f"archive member {info.name!r} does not match its SHA-256; the archive is corrupt")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"archive {archive} is unreadable or corrupt: {exc}") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(f"archive is missing {len(missing)} listed members, first {missing[0]!r}")
    for name in manifest.directories:
        _safe_name(name)
    return manifest


def _extract(archive: Path, manifest: BackupManifest, target: Path, db_dir: Path) -> tuple[dict[str, Path], int]:
    """Unpack the verified archive: table dumps under db_dir, data files under target with their modes."""
    modes = {m.name: m.mode for m in manifest.members}
    digests = {m.name: m.sha256 for m in manifest.members}
    tables: dict[str, Path] = {}
    files = 0
    db_dir.mkdir(parents=True, exist_ok=True)
    for rel in sorted(manifest.directories):
        (target / rel).mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        _manifest, first = _read_manifest(tar)
        for info in tar:
            if info is first:
                continue
            handle = tar.extractfile(info)
            if handle is None:
                raise BackupError(f"archive member {info.name!r} cannot be read")
            digest = hashlib.sha256()
            if info.name.startswith(DB_PREFIX):
                path = db_dir / f"t{len(tables)}.jsonl"
                with path.open("wb") as out:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                tables[info.name.removeprefix(DB_PREFIX).removesuffix(".jsonl")] = path
            elif info.name.startswith(FILES_PREFIX):
                safe = _safe_name(info.name.removeprefix(FILES_PREFIX))
                path = target.joinpath(*safe.parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                # Setuid and friends are never restored: permission bits only.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while chunk := handle.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fchmod(out.fileno(), modes[info.name] & 0o777)
                    os.fsync(out.fileno())
                files += 1
            else:
                continue
            # The archive could change between the check and here; the bytes used must be the bytes checked.
            if digest.hexdigest() != digests[info.name]:
                raise BackupError(f"archive member {info.name!r} changed while restoring; nothing was replaced")
    for rel, mode in manifest.directories.items():
        os.chmod(target / rel, mode & 0o777)
    return tables, files


def _has_rows(connection: sa.Connection) -> str | None:
    for table in _user_tables(connection):
        if connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None:
            return table.name
    return None


def database_has_content(url: str) -> str | None:
    """The first table holding rows, or None for an empty (or absent) database."""
    sqlite_file = _sqlite_path(url)
    if sqlite_file is not None and not sqlite_file.exists():
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return _has_rows(conn)
    finally:
        engine.dispose()


def _data_dir_content(data_dir: Path, db_file: Path | None) -> str | None:
    files, _dirs = _data_files(data_dir, db_file)
    for rel, _path in files:
        if rel != "secret_key":  # generated on first start, holds no content of its own
            return rel
    return None


def _load_rows(connection: sa.Connection, tables: dict[str, Path], manifest: BackupManifest) -> dict[str, int]:
    """Insert every dumped row into the freshly migrated schema, then move id sequences past them."""
    counts: dict[str, int] = {}
    by_name = {t.name: t for t in _user_tables(connection)}
    unknown = sorted(set(tables) - set(by_name))
    if unknown:
        raise BackupError(f"the archive has table {unknown[0]!r}, which schema {manifest.alembic_revision} lacks")
    # Migrations seed some rows (alert templates); the archive's copy of a table replaces them.
    for name, table in reversed(list(by_name.items())):
        if name in tables:
            connection.execute(table.delete())
    for name, table in by_name.items():
        counts[name] = 0
        if name not in tables:
            continue
        batch: list[dict[str, object]] = []
        with tables[name].open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                raw = json.loads(line)
                extra = set(raw) - set(table.columns.keys())
                if extra:
                    raise BackupError(f"{DB_PREFIX}{name}.jsonl line {number} has unknown column {sorted(extra)[0]!r}")
                batch.append({key: _decode(value, table.columns[key]) for key, value in raw.items()})
                if len(batch) == 1000:
                    connection.execute(table.insert(), batch)
                    counts[name] += len(batch)
                    batch = []
        if batch:
            connection.execute(table.insert(), batch)
            counts[name] += len(batch)
        if connection.dialect.name == "postgresql" and counts[name]:
            for column in table.primary_key.columns:
                if isinstance(column.type, sa.Integer):
                    # setval is strict: a column without a sequence yields NULL, not an error.
                    latest = sa.select(sa.func.max(table.c[column.name])).scalar_subquery()
                    connection.execute(sa.select(sa.func.setval(
                        sa.func.pg_get_serial_sequence(name, column.name), latest)))
    return counts


def _build_schema_and_load(connection: sa.Connection, tables: dict[str, Path],
                           manifest: BackupManifest) -> dict[str, int]:
    """Migrate an empty database to the archive's revision, load the rows, then migrate to head."""
    config = _alembic_config(connection)
    command.upgrade(config, manifest.alembic_revision)
    counts = _load_rows(connection, tables, manifest)
    command.upgrade(config, "head")
    return counts


def _check_revision_known(revision: str) -> None:
    script = ScriptDirectory.from_config(_alembic_config())
    try:
        found = script.get_revision(revision)
    except RevisionError as exc:
        raise BackupError(f"archive schema revision {revision!r} is unknown to this server "
                          f"(made by a newer version?): {exc}") from None
    if found is None:
        raise BackupError(f"archive schema revision {revision!r} is unknown to this server")


def _restore_sqlite(db_file: Path, tables: dict[str, Path], manifest: BackupManifest,
                    work: Path) -> tuple[dict[str, int], Path]:
    """Build the restored database beside the live one; the caller swaps it in."""
    staged = db_file.parent / f".restore-{db_file.name}.{os.getpid()}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{staged}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{staged}")
    try:
        with migrating(engine) as conn:
            counts = _build_schema_and_load(conn, tables, manifest)
    finally:
        engine.dispose()
    # Fold the WAL into the main file so the single renamed file is the whole database.
    raw = sqlite3.connect(staged, isolation_level=None)
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("PRAGMA journal_mode=DELETE")
    finally:
        raw.close()
    with staged.open("rb") as handle:
        os.fsync(handle.fileno())
    return counts, staged


def _swap_sqlite(db_file: Path, staged: Path) -> None:
    if db_file.exists():
        # Settle the old database first so no stale WAL can be applied to the new file.
        old = sqlite3.connect(db_file, timeout=30)
        try:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            old.close()
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    os.replace(staged, db_file)


def _top_entries(manifest: BackupManifest) -> set[str]:
    tops = {m.name.removeprefix(FILES_PREFIX).split("/", 1)[0] for m in manifest.members
            if m.name.startswith(FILES_PREFIX)}
    tops.update(name.split("/", 1)[0] for name in manifest.directories)
    return tops


def _swap_files(data_dir: Path, staging: Path, tops: set[str], trash: Path) -> list[tuple[Path, Path | None]]:
    """Rename each restored top-level entry into place, parking the old one; returns what to undo."""
    done: list[tuple[Path, Path | None]] = []
    for top in sorted(tops):
        live, new = data_dir / top, staging / top
        parked: Path | None = None
        if live.exists() or live.is_symlink():
            parked = trash / top
            os.replace(live, parked)
        try:
            os.replace(new, live)
        except OSError:
            if parked is not None:
                os.replace(parked, live)
            raise
        done.append((live, parked))
    return done


def _undo_swap(done: list[tuple[Path, Path | None]], trash: Path) -> None:
    for live, parked in reversed(done):
        if live.is_dir() and not live.is_symlink():
            shutil.rmtree(live)
        else:
            live.unlink(missing_ok=True)
        if parked is not None:
            os.replace(parked, live)


def _set_owners(root: Path, manifest: BackupManifest, fallback: Path) -> None:
    """Run as root, give each restored path its recorded owner, or the data dir's when unknown here."""
    if os.geteuid() != 0:
        return
    default = fallback.stat()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            user, group = manifest.owners.get(path.relative_to(root).as_posix(), ("", ""))
            try:
                uid = pwd.getpwnam(user).pw_uid if user else default.st_uid
            except KeyError:
                uid = default.st_uid
            try:
                gid = grp.getgrnam(group).gr_gid if group else default.st_gid
            except KeyError:
                gid = default.st_gid
            os.chown(path, uid, gid, follow_symlinks=False)


def restore_backup(*, archive: Path, database_url: str, data_dir: Path, force: bool = False) -> RestoreReport:
    """Verify the whole archive, rebuild database and files aside, then swap them in together."""
    manifest = verify_archive(archive)
    _check_revision_known(manifest.alembic_revision)
    db_file = _sqlite_path(database_url)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not force:
        table = database_has_content(database_url)
        if table is not None:
            raise BackupError(f"the target database is not empty (table {table!r} has rows); "
                              "pass --force to replace it")
        existing = _data_dir_content(data_dir, db_file)
        if existing is not None:
            raise BackupError(f"the data dir {data_dir} is not empty ({existing} exists); pass --force to replace it")
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    trash = Path(tempfile.mkdtemp(prefix=".restore-old-", dir=data_dir))
    try:
        tables, files = _extract(archive, manifest, staging / "files", staging / "db")
        _set_owners(staging / "files", manifest, data_dir)
        tops = _top_entries(manifest)
        if db_file is not None:
            counts, staged_db = _restore_sqlite(db_file, tables, manifest, staging)
            if os.geteuid() == 0:
                owner = db_file.parent.stat()
                os.chown(staged_db, owner.st_uid, owner.st_gid)
            done = _swap_files(data_dir, staging / "files", tops, trash)
            try:
                _swap_sqlite(db_file, staged_db)
            except BaseException:
                _undo_swap(done, trash)
                raise
        else:
            engine = make_engine(database_url)
            try:
                with engine.connect() as conn:
                    trans = conn.begin()
                    try:
                        # PostgreSQL DDL is transactional: the old schema is dropped and the new one
                        # loaded in one transaction, so a failure leaves the old database whole.
                        old = sa.MetaData()
                        old.reflect(bind=conn)
                        old.drop_all(bind=conn)
                        counts = _build_schema_and_load(conn, tables, manifest)
                        done = _swap_files(data_dir, staging / "files", tops, trash)
                    except BaseException:
                        trans.rollback()
                        raise
                    try:
                        trans.commit()
                    except BaseException:
                        _undo_swap(done, trash)
                        raise
            finally:
                engine.dispose()
    except (json.JSONDecodeError, sa.exc.SQLAlchemyError) as exc:
        raise BackupError(f"restore failed, nothing was replaced: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
    return RestoreReport(alembic_revision=manifest.alembic_revision, tables=counts, files=files)
