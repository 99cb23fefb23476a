"""Report storage benchmark: heartbeats and alert acks through the batched ReportWriter vs one transaction each.

Run: .venv/bin/python benchmarks/reports.py [--screens 1000] [--beats 10] [--rounds 3] [--database-url URL]
Without --database-url: SQLite in a temp dir (as the managed single-host server). With a PostgreSQL URL
(an empty database the bench may migrate, e.g. postgresql+psycopg://signage@localhost/bench) the same on
PostgreSQL. No broker: this measures what the server's database side can take, the broker is measured by
benchmarks/fleet.py and benchmarks/alerts.py. Baseline, same run: the path before issue 17, one session and
one commit per report on one thread (what the hub's network thread did).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, select

from benchmarks.seed import bench_screens
from signage_core.protocol import Heartbeat
from signage_server.db import make_engine, session_factory, upgrade_to_head
from signage_server.telemetry import service as telemetry
from signage_server.telemetry.models import ScreenHeartbeat
from signage_server.transport.ids import screen_wire_id
from signage_server.transport.reports import Report, ReportWriter

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _fleet(engine: object, n: int) -> list[int]:
    with Session(engine, expire_on_commit=False) as s:  # type: ignore[call-overload]
        ids = bench_screens(s, n, now=START)
        s.commit()
    return ids


def _beats(ids: list[int], beats: int, base: float) -> list[Report]:
    out = []
    for k in range(beats):
        for sid in ids:
            at = START + timedelta(seconds=base + k)
            out.append(Report(screen_wire_id(sid), sid, Heartbeat(
                screen_id=screen_wire_id(sid), sent_at=at, uptime_s=base + k, manifest_version="7",
                current_slide_id="welcome", current_language="vi", frame_hash="a" * 64), at))
    return out


def one_by_one(factory: object, reports: list[Report]) -> float:
    """The old path: a session, a record_heartbeat and a commit per beat."""
    t = time.perf_counter()
    for r in reports:
        with factory() as session:  # type: ignore[operator]
            assert isinstance(r.body, Heartbeat)
            telemetry.record_heartbeat(session, screen_id=r.screen_id, beat=r.body, received_at=r.received_at)
            session.commit()
    return len(reports) / (time.perf_counter() - t)


def batched(factory: object, reports: list[Report]) -> tuple[float, int]:
    """The writer: everything submitted as the hub would, timed until the last one is committed."""
    writer = ReportWriter(factory)  # type: ignore[arg-type]
    writer.start()
    t = time.perf_counter()
    for r in reports:
        writer.submit(r)
    if not writer.flush(600):
        raise SystemExit("the writer did not finish in 600 s")
    rate = len(reports) / (time.perf_counter() - t)
    writer.stop()
    return rate, writer.stats.batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--screens", type=int, default=1000)
    parser.add_argument("--beats", type=int, default=10, help="heartbeats per screen per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='signage-reports-bench-')) / 's.db'}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    factory = session_factory(engine)
    ids = _fleet(engine, args.screens)
    old: list[float] = []
    new: list[float] = []
    batches: list[int] = []
    base = 0.0
    for _ in range(args.rounds):
        # The baseline gets a tenth of the beats: it is an order of magnitude slower.
        old.append(one_by_one(factory, _beats(ids, max(1, args.beats // 10), base)))
        base += args.beats
        rate, n_batches = batched(factory, _beats(ids, args.beats, base))
        new.append(rate)
        batches.append(n_batches)
        base += args.beats
    with Session(engine) as s:
        stored = s.exec(select(ScreenHeartbeat.uptime_s).where(ScreenHeartbeat.screen_id == ids[-1])).one()
    if stored != base - 1:
        raise SystemExit(f"lost beats: screen {ids[-1]} shows uptime {stored}, sent {base - 1}")
    backend = engine.dialect.name
    print(f"{backend}: {args.screens} screens, {args.beats} beats each per round, {args.rounds} rounds")
    print(f"one transaction per beat (before): median {statistics.median(old):,.0f} beats/s  "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in old)})")
    print(f"report writer, batched (now):     median {statistics.median(new):,.0f} beats/s  "
          f"(rounds: {', '.join(f'{r:,.0f}' for r in new)}; transactions per round: {batches})")
    print("target >= 5,000/s:", "met" if statistics.median(new) >= 5000 else "MISSED")


if __name__ == "__main__":
    main()
