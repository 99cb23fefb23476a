"""SQLite locking: writers queue behind each other, but reads never wait for a writer."""

import threading
import time
from pathlib import Path

from sqlmodel import Session

from signage_server.db import READ_MOSTLY, make_engine


def _hold_write_lock(url: str, held: threading.Event, release: threading.Event) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        held.set()
        release.wait(10)
    engine.dispose()


def test_a_read_mostly_session_does_not_queue_behind_a_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    held, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_hold_write_lock, args=(url, held, release))
    writer.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with Session(engine) as session:
            # What the request dependency does for GET: preview pages render while holding this.
            session.connection(execution_options={READ_MOSTLY: True})
            assert session.connection().exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        writer.join()
        engine.dispose()


def test_a_writing_session_waits_for_the_writer_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    held, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_hold_write_lock, args=(url, held, release))
    writer.start()
    assert held.wait(5)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    waited = time.monotonic() - started
    writer.join()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    assert waited >= 0.4
    engine.dispose()
