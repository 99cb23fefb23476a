"""Engine, session and migrations: built from Settings on demand, never at import time."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SessionFactory = Callable[[], Session]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator[StrEnum]):
    """A StrEnum stored as plain text (no database enum type to migrate), loaded back as the enum."""

    impl = sa.String(16)
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls
        self.length = length

    def process_bind_param(self, value: StrEnum | str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else self.enum_cls(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> StrEnum | None:
        return None if value is None else self.enum_cls(value)


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


class UnsavedRow(RuntimeError):
    """A row's id was asked for before the database gave it one: a bug, never a request's fault."""


def saved_id(row: HasId) -> int:
    """The row's primary key; an unsaved row raises instead of passing for id 0."""
    if row.id is None:
        raise UnsavedRow(f"{type(row).__name__} has no id yet: add and flush it before using its id")
    return row.id


def one_of(session: Session, column: sa.orm.Mapped[Any] | sa.ColumnElement[Any], ids: Collection[int]
           ) -> sa.ColumnElement[bool]:
    """`column IN (ids)`; on PostgreSQL `column = ANY(:ids)`, one array parameter.

    An IN list is one parameter per id: at a thousand ids psycopg spends longer splitting the query
    text into its placeholders than the database spends answering.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam("one_of_ids", sorted(ids), type_=postgresql.ARRAY(sa.Integer)))
    return column.in_(ids)


# Execution option: this transaction mostly reads, so on SQLite it must not take the write lock up front.
READ_MOSTLY = "signage_read_mostly"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with SQLite made safe: WAL, foreign keys on, real transactions and savepoints."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # IMMEDIATE: a read-then-write transaction waits for a concurrent writer (the MQTT hub's
            # thread) instead of failing at once with "database is locked" when it upgrades.
            # Reads (GET pages, previews that render for a while) opt out so they never queue.
            mode = "DEFERRED" if conn.get_execution_options().get(READ_MOSTLY) else "IMMEDIATE"
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def session_factory(engine: Engine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit (the API serialises after it)."""

    def factory() -> Session:
        return Session(engine, expire_on_commit=False)

    return factory


@contextmanager
def transaction(factory: SessionFactory) -> Iterator[Session]:
    """Commit when the block succeeds, roll back when it raises: the CLI's unit of work."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def migrating(engine: Engine) -> Iterator[sa.Connection]:
    """A transaction for schema changes; on SQLite with foreign keys off while it runs.

    SQLite alters most columns by copying the table and dropping the old one, and dropping a table
    runs its ON DELETE CASCADE: with foreign keys on, a migration of `screens` would delete every
    play record and manifest of every screen. Off for the copy, then checked before commit.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Outside any transaction (the pragma is a no-op inside one): on the DBAPI connection.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def migrate_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Move the schema to `revision` (upgrade, or downgrade with down=True) in one transaction."""
    with migrating(engine) as connection:
        if down:
            command.downgrade(_alembic_config(connection), revision)
        else:
            command.upgrade(_alembic_config(connection), revision)


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when already there."""
    migrate_to(engine, "head")


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found in " + str(MIGRATIONS_DIR))
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def utcnow() -> datetime:
    """The wall clock, read only at the edges (routes, CLI) and passed inward."""
    return datetime.now(UTC)
