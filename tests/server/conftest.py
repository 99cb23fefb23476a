"""Server test fixtures: a real database (SQLite and PostgreSQL), migrated, one transaction per test."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from signage_server.transport.broker import free_port
from signage_server.users.models import User
from signage_server.users.service import _hasher
from tests.server.world import ROLES, add_users, build_world

__all__ = ["ROLES"]  # test_backup seeds its own copy of every account

TEST_SECRET = "test-secret-" + "k" * 40
PASSWORD = "correct horse battery"


def _pg_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL binaries not found: run ./scripts/test, which installs them")


def _as_postgres(args: list[str]) -> list[str]:
    # initdb refuses to run as root; run the throw-away cluster as the postgres system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL the tests start themselves (or SIGNAGE_TEST_POSTGRES_URL), one per session."""
    given = os.environ.get("SIGNAGE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="signage-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
    port = free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                 "-E", "UTF8", "--no-locale", "--no-sync"]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                                 "-l", str(root / "log"), "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={sock}&port={port}"
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def fresh_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A factory for empty databases of a kind ('sqlite' or 'postgres'), dropped at session end."""
    created: list[str] = []
    admin_urls: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'signage.db'}"
        admin_url = request.getfixturevalue("postgres_admin_url")
        admin_urls[:] = [admin_url]
        name = "signage_test_" + secrets.token_hex(6)
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        created.append(name)
        return _with_database(admin_url, name)

    yield make
    # Only a shared server needs cleaning; our own cluster is deleted whole (and may be gone already).
    if created and os.environ.get("SIGNAGE_TEST_POSTGRES_URL"):
        admin = sa.create_engine(admin_urls[0], isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def engine(db_kind: str, fresh_database: object) -> Iterator[Engine]:
    """A database migrated from empty to head: every module runs its tests on both backends."""
    url = fresh_database(db_kind)  # type: ignore[operator]
    eng = make_engine(url)
    upgrade_to_head(eng)
    yield eng
    eng.dispose()


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@pytest.fixture(scope="session")
def password_hash() -> str:
    # Argon2 is deliberately slow: hash once per session, share across the seeded accounts.
    return _hasher.hash(PASSWORD)


@pytest.fixture(scope="module")
def seeded(engine: Engine, password_hash: str) -> dict[str, tuple[int, str]]:
    """Accounts for every role with an API token each, committed once per module."""
    with Session(engine, expire_on_commit=False) as session:
        users, tokens = add_users(session, password_hash=password_hash, secret=TEST_SECRET,
                                  now=datetime(2026, 1, 1, tzinfo=UTC))
        session.commit()
    return {name: (user.id, tokens[name]) for name, user in users.items()}  # type: ignore[misc]


class _Holder:
    """The connection of the running test, which the module's app binds its sessions to."""

    conn: sa.Connection | None = None


@pytest.fixture(scope="module")
def holder() -> _Holder:
    return _Holder()


@pytest.fixture
def connection(engine: Engine, seeded: dict[str, tuple[int, str]], holder: _Holder) -> Iterator[sa.Connection]:
    """One outer transaction per test, rolled back at the end: tests never see each other's rows."""
    conn = engine.connect()
    trans = conn.begin()
    holder.conn = conn
    try:
        yield conn
    finally:
        holder.conn = None
        trans.rollback()
        conn.close()


@pytest.fixture
def session(connection: sa.Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
        yield s


START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
R = TypeVar("R")


def all_at_once(jobs: list[Callable[[], R]], timeout_s: float = 60) -> tuple[list[R], list[BaseException]]:
    """Run the jobs on threads released together; returns what they returned and what they raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[R] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(job: Callable[[], R]) -> None:
        barrier.wait()
        try:
            result = job()
            with lock:
                results.append(result)
        except BaseException as exc:  # collected and asserted on the main thread
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    return results, errors


@pytest.fixture(scope="module")
def module_clock() -> Clock:
    return Clock(START)


@pytest.fixture
def clock(module_clock: Clock) -> Clock:
    module_clock.now = START
    return module_clock


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("var"), secret_key=TEST_SECRET, migrate_on_start=False, mqtt_enabled=False, run_scheduler=False,
                    max_upload_bytes=2 * 1024 * 1024, max_body_bytes=64 * 1024)


@pytest.fixture(scope="module")
def module_app(settings: Settings, engine: Engine, module_clock: Clock, holder: _Holder) -> object:
    """One app per module (building it is not free); each request uses the running test's transaction."""

    def sessions() -> Session:
        if holder.conn is None:
            raise RuntimeError("the app was used outside a test's transaction")
        return Session(bind=holder.conn, join_transaction_mode="create_savepoint", expire_on_commit=False)

    return create_app(settings, engine=engine, sessions=sessions, clock=module_clock)


@pytest.fixture
def app(module_app: object, connection: sa.Connection, clock: Clock) -> object:
    return module_app


class Api:
    """A client per role: `api.as_("operator").post(...)`, `api.anon.get(...)`."""

    def __init__(self, app: object, seeded: dict[str, tuple[int, str]]) -> None:
        self.app = app
        self.seeded = seeded
        self.anon = TestClient(app)  # type: ignore[arg-type]

    def as_(self, username: str) -> TestClient:
        _user_id, token = self.seeded[username]
        return TestClient(self.app, headers={"Authorization": f"Bearer {token}"})  # type: ignore[arg-type]

    def id_of(self, username: str) -> int:
        return self.seeded[username][0]


@pytest.fixture
def api(app: object, seeded: dict[str, tuple[int, str]]) -> Api:
    return Api(app, seeded)


@pytest.fixture
def browsers(app: object, world: dict[str, int]) -> Any:
    """A page client per role, logged in through the form on first use (one shared definition)."""
    from tests.server.test_webui import Browsers  # imported here: test_webui imports this module

    return Browsers(app)


@pytest.fixture
def users(session: Session, seeded: dict[str, tuple[int, str]]) -> dict[str, User]:
    return {name: session.get_one(User, user_id) for name, (user_id, _token) in seeded.items()}


@pytest.fixture(scope="module")
def module_world(engine: Engine, seeded: dict[str, tuple[int, str]]) -> dict[str, int]:
    """The shared data set, committed once per module; each test's changes are rolled back."""
    with Session(engine, expire_on_commit=False) as s:
        users = {name: s.get_one(User, user_id) for name, (user_id, _token) in seeded.items()}
        return build_world(s, users)


@pytest.fixture
def world(module_world: dict[str, int], connection: sa.Connection) -> dict[str, int]:
    return module_world
