"""One MQTT side per deployment: several app processes on one data dir or database, exactly one owns it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage_core.protocol import (
    BrokerParams,
    PlayLogBatch,
    PlayRecord,
    encode,
    playlog_ack_topic,
    playlog_topic,
)
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, saved_id, upgrade_to_head
from signage_server.screens import service as screens
from signage_server.transport.broker import ManagedMosquitto, free_port
from signage_server.transport.service import TransportService
from tests.broker_fixtures import RawClient
from tests.server.conftest import TEST_SECRET

pytestmark = pytest.mark.broker

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
# A process that takes the lock and waits to be killed: the owner that dies without a word.
_HOLDER = """
import sys, time
from pathlib import Path
from signage_server.db import make_engine
from signage_server.transport.ownership import transport_lock
lock = transport_lock(data_dir=Path(sys.argv[1]), engine=make_engine(sys.argv[2]))
assert lock.try_acquire("ghost-owner")
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, fresh_database: Any, tmp_path: Path) -> Iterator[str]:
    url: str = fresh_database(request.param)
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    yield url


def _external(broker: ManagedMosquitto, data_dir: Path, url: str, *, prefer_owner: bool | None = True,
              takeover_s: float = 0.2) -> Settings:
    """The installer's set-up: every process reaches the same broker by SIGNAGE_MQTT_URL.

    The scheduler stays off (its jobs are not what these tests are about); prefer_owner=None makes the
    process an API worker that first leaves the MQTT side to the scheduler process.
    """
    admin = broker.params()
    return Settings(data_dir=data_dir, database_url=url, secret_key=TEST_SECRET, migrate_on_start=False,
                    run_scheduler=False, mqtt_url=f"mqtt://{admin.host}:{admin.port}", mqtt_username=admin.username,
                    mqtt_password=admin.password, heartbeat_interval_s=1, transport_takeover_interval_s=takeover_s,
                    transport_prefer_owner=prefer_owner)


def _data_dirs(tmp_path: Path, database: str) -> tuple[Path, Path]:
    """Two processes' data dirs. SQLite: both on the one dir; PostgreSQL: as on two machines, one each."""
    shared = tmp_path / "var"
    return shared, shared if database.startswith("sqlite") else tmp_path / "var-b"


def _start(stack: ExitStack, settings: Settings) -> tuple[Any, TestClient]:
    engine: Engine = make_engine(settings.resolved_database_url())
    stack.callback(engine.dispose)
    app = create_app(settings, engine=engine)
    client = stack.enter_context(TestClient(app))
    return app, client


def _screen(url: str) -> int:
    engine = make_engine(url)
    with Session(engine) as s:
        site = screens.create_site(s, actor=None, slug=f"gate-{uuid.uuid4().hex[:6]}", name="Hoa Lư", now=NOW)
        screen = screens.create_screen(s, actor=None, fields={
            "site_id": site.id, "name": f"arrivals-{uuid.uuid4().hex[:6]}", "width_px": 192, "height_px": 96,
            "pixel_pitch_mm": 5.0, "languages": ["vi"]}, now=NOW)
        s.commit()
        screen_id = saved_id(screen)
    engine.dispose()
    return screen_id


def _acks_per_batch(transport: TransportService, broker: ManagedMosquitto, screen_id: int) -> int:
    """A player sends one play-log batch: how many acknowledgements come back (one per listening process)."""
    assert transport.accounts is not None
    wire = str(screen_id)
    if wire not in transport.accounts.list_screens():
        transport.accounts.add_screen(wire, groups=[f"s{wire}"])
    creds = transport.accounts.reset_password(wire)
    admin = broker.params()
    box = RawClient(BrokerParams(admin.host, admin.port, creds.username, creds.password))
    try:
        assert not box.connect().is_failure
        assert box.subscribe(playlog_ack_topic(wire))
        batch = PlayLogBatch(screen_id=wire, records=[PlayRecord(
            record_id=uuid.uuid4().hex, slide_id="welcome", language="vi", frame_hash="b" * 64,
            manifest_version="1", started_at=datetime.now(UTC), duration_ms=10_000)])
        box.publish(playlog_topic(wire), encode(batch))
        acks = 0
        while box.receive(1.5) is not None:
            acks += 1
        return acks
    finally:
        box.close()


def _eventually(probe: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_two_processes_on_one_deployment_run_one_mqtt_side(broker: ManagedMosquitto, database: str,
                                                           tmp_path: Path) -> None:
    screen_id = _screen(database)
    shared, second_dir = _data_dirs(tmp_path, database)
    with ExitStack() as stack:
        first, first_client = _start(stack, _external(broker, shared, database))
        second, second_client = _start(stack, _external(broker, second_dir, database))
        owner: TransportService = first.state.transport
        publisher: TransportService = second.state.transport
        assert owner.owner and not publisher.owner
        assert owner.chunks is not None and publisher.chunks is None
        assert publisher.hub is not None and not publisher.hub.listening
        # Reports are heard once: one play-log ack per batch, not one per process.
        assert _acks_per_batch(owner, broker, screen_id) == 1
        # Both still publish and manage accounts (enrolment and alerts work behind any worker).
        assert publisher.accounts is not None and str(screen_id) in publisher.accounts.list_screens()
        ready = second_client.get("/readyz").json()["transport"]
        # PostgreSQL keeps 63 characters of the label (application_name): host and pid come first.
        assert ready["role"] == "publisher" and ready["owner"] and owner.label.startswith(ready["owner"])
        assert first_client.get("/readyz").json()["transport"] == {"role": "owner", "owner": owner.label,
                                                                  "broker": {"state": "connected", "managed": False}}
        assert str(os.getpid()) in owner.label


def test_an_api_worker_started_first_leaves_the_mqtt_side_to_the_scheduler(broker: ManagedMosquitto, database: str,
                                                                           tmp_path: Path) -> None:
    screen_id = _screen(database)
    shared, second_dir = _data_dirs(tmp_path, database)
    with ExitStack() as stack:
        # As deploy starts them: the API workers' unit first, the scheduler's a moment later.
        worker_app, worker_client = _start(stack, _external(broker, shared, database, prefer_owner=None, takeover_s=3))
        worker: TransportService = worker_app.state.transport
        assert not worker.owner and worker.chunks is None
        assert worker_client.get("/readyz").json()["transport"]["role"] == "publisher"
        scheduler_app, _ = _start(stack, _external(broker, second_dir, database, prefer_owner=True))
        scheduler: TransportService = scheduler_app.state.transport
        assert scheduler.owner and scheduler.chunks is not None
        time.sleep(4)  # past the worker's takeover round: the scheduler keeps it
        assert scheduler.owner and not worker.owner
        assert _acks_per_batch(scheduler, broker, screen_id) == 1
    with ExitStack() as stack:
        # No scheduler process comes: the worker takes the MQTT side after one interval.
        worker_app, _ = _start(stack, _external(broker, shared, database, prefer_owner=None, takeover_s=0.5))
        worker = worker_app.state.transport
        assert not worker.owner
        _eventually(lambda: worker.owner and worker.chunks is not None)
        assert _acks_per_batch(worker, broker, screen_id) == 1


def test_when_the_owner_is_killed_another_process_takes_the_mqtt_side_over(broker: ManagedMosquitto, database: str,
                                                                            tmp_path: Path) -> None:
    screen_id = _screen(database)
    data_dir = tmp_path / "var"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(data_dir), database], stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with ExitStack() as stack:
            app, client = _start(stack, _external(broker, data_dir, database))
            transport: TransportService = app.state.transport
            assert not transport.owner and transport.chunks is None
            assert client.get("/readyz").json()["transport"] == {"role": "publisher", "owner": "ghost-owner",
                                                                 "broker": {"state": "connected", "managed": False}}
            assert _acks_per_batch(transport, broker, screen_id) == 0  # nobody hears reports while the ghost holds it
            os.kill(holder.pid, signal.SIGKILL)  # no clean-up: the OS / PostgreSQL must drop the lock
            holder.wait(10)
            _eventually(lambda: transport.owner and transport.chunks is not None)
            assert transport.hub is not None and transport.hub.listening
            assert client.get("/readyz").json()["transport"] == {"role": "owner", "owner": transport.label,
                                                                 "broker": {"state": "connected", "managed": False}}
            assert _acks_per_batch(transport, broker, screen_id) == 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_a_second_process_on_a_managed_broker_runs_without_mqtt_and_says_who_has_it(tmp_path: Path,
                                                                                   fresh_database: Any) -> None:
    url: str = fresh_database("sqlite")
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "var", database_url=url, secret_key=TEST_SECRET, migrate_on_start=False,
                        run_scheduler=False, mqtt_port=free_port(), mqtt_bind_host="127.0.0.1")
    with ExitStack() as stack:
        first, _ = _start(stack, settings)
        owner: TransportService = first.state.transport
        assert owner.owner and owner.broker is not None
        with ExitStack() as second_stack:
            second, client = _start(second_stack, settings)
            assert second.state.transport is None
            assert client.get("/readyz").json()["transport"] == {"role": "none", "owner": owner.label}
            refused = client.post("/api/v1/enrol", json={"code": "ABCD-EFGH-JKLM-NPQR", "agent_version": "1"})
            assert refused.status_code == 503
            error = refused.json()["error"]
            assert error["code"] == "broker_unavailable" and error["details"]["transport_owner"] == owner.label
            assert owner.broker.pid is not None  # the second process left the owner's broker alone
        stack.close()  # the owner stops: its next start elsewhere takes the MQTT side
    with ExitStack() as stack:
        again, _ = _start(stack, settings)
        assert again.state.transport is not None and again.state.transport.owner


@pytest.mark.postgres
def test_an_owner_whose_database_session_ends_gives_the_mqtt_side_up_to_exactly_one_process(
        broker: ManagedMosquitto, fresh_database: Any, tmp_path: Path) -> None:
    url: str = fresh_database("postgres")
    engine = make_engine(url)
    upgrade_to_head(engine)
    screen_id = _screen(url)
    with ExitStack() as stack:
        first, _ = _start(stack, _external(broker, tmp_path / "a", url))
        second, _ = _start(stack, _external(broker, tmp_path / "b", url))
        a: TransportService = first.state.transport
        b: TransportService = second.state.transport
        assert a.owner and not b.owner
        with engine.connect() as conn:  # what a PostgreSQL restart or a network cut does to the lock's session
            ended = conn.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'signage-transport %'")).scalar()
        assert ended == 1

        def settled() -> bool:
            owners = [t for t in (a, b) if t.owner]
            return len(owners) == 1 and all(t.chunks is None and t.hub is not None and not t.hub.listening
                                            for t in (a, b) if not t.owner)

        _eventually(settled)
        time.sleep(1.5)  # both have looked again: still one owner
        assert settled()
        owner = a if a.owner else b
        assert _acks_per_batch(owner, broker, screen_id) == 1
    engine.dispose()
