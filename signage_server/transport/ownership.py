"""Which process runs the MQTT side: an exclusive lock that the OS or PostgreSQL drops when its holder dies."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

LOCK_FILE_NAME = "transport.lock"
# pg_try_advisory_lock(int, int): the database-wide key of "the signage MQTT side".
PG_LOCK_KEY = (0x5349474E, 1)  # "SIGN", 1


def process_label(now: datetime) -> str:
    """How operators recognise the owner in logs and /readyz: host, pid and since when."""
    return f"{socket.gethostname()} pid {os.getpid()} since {now.isoformat(timespec='seconds')}"


class TransportLock(Protocol):
    """One holder per data dir or database; released on close and when the holding process dies."""

    def try_acquire(self, label: str) -> bool: ...

    def still_held(self) -> bool: ...

    def holder(self) -> str | None: ...

    def release(self) -> None: ...


class FileTransportLock:
    """flock on a file in the data dir: SQLite deployments, where every process shares one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def try_acquire(self, label: str) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"owner": label}))
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        return self._file is not None  # a flock lasts as long as the descriptor

    def holder(self) -> str | None:
        try:
            return str(json.loads(self.path.read_text(encoding="utf-8"))["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None


class PostgresTransportLock:
    """A session advisory lock on a connection of its own: one holder across every machine on the database."""

    def __init__(self, engine: Engine) -> None:
        # Its own unpooled engine: the lock lives exactly as long as this one connection (never PgBouncer'd).
        self._engine = sa.create_engine(engine.url, poolclass=NullPool)
        self._conn: sa.Connection | None = None

    def try_acquire(self, label: str) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect()
        try:
            conn.execute(sa.select(sa.func.set_config("application_name", f"signage-transport {label}"[:63], False)))
            got = bool(conn.execute(sa.select(sa.func.pg_try_advisory_lock(*PG_LOCK_KEY))).scalar())
            conn.commit()  # a session lock outlives the transaction; nothing stays "idle in transaction"
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        """The lock lasts as long as its session: answering a query proves the session is still there."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.select(1))
            self._conn.commit()
        except sa.exc.DBAPIError:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
            return False
        return True

    def holder(self) -> str | None:
        query = sa.text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :a AND l.objid = :b AND l.objsubid = 2 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        with self._engine.connect() as conn:
            name = conn.execute(query, {"a": PG_LOCK_KEY[0], "b": PG_LOCK_KEY[1]}).scalar()
        return str(name).removeprefix("signage-transport ") if name else None

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # ending the session drops the advisory lock
            self._conn = None
        self._engine.dispose()


def transport_lock(*, data_dir: Path, engine: Engine) -> TransportLock:
    """PostgreSQL: the advisory lock (several machines share the database); SQLite: a lock file in the data dir."""
    if engine.dialect.name == "postgresql":
        return PostgresTransportLock(engine)
    return FileTransportLock(data_dir / LOCK_FILE_NAME)
