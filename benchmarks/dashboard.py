"""Dashboard poll benchmark: the rows behind /dashboard.json (polled every 5 s by each open page).

Run: .venv/bin/python benchmarks/dashboard.py [--screens 300] [--manifests 200] [--rounds 20] [--database-url URL]
Without --database-url: SQLite in a temp dir. Each screen gets --manifests manifest records (a long-lived
deployment keeps its history) and a heartbeat; the figure is the median time of screen_rows() for the whole
fleet in a fresh session, as one poll of the page.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert
from sqlmodel import Session

from benchmarks.seed import bench_screens
from signage_server.config import Settings
from signage_server.dashboard.views import screen_rows
from signage_server.db import make_engine, upgrade_to_head
from signage_server.manifests.models import ManifestRecord
from signage_server.screens.models import Screen
from signage_server.telemetry.models import ScreenHeartbeat

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# About what a compiled week of one screen's manifest compresses to.
ENVELOPE = zlib.compress(b'{"segments":[' + b'{"slide":"welcome","start":"08:00","end":"09:00"},' * 200 + b"{}]}")


def _fleet(engine: object, n: int, manifests: int) -> None:
    with Session(engine, expire_on_commit=False) as s:  # type: ignore[call-overload]
        for sid in bench_screens(s, n, now=START):
            s.exec(insert(ManifestRecord), params=[  # type: ignore[call-overload]
                {"screen_id": sid, "version": v, "content_hash": f"{v:080d}", "issued_at": START,
                 "expires_at": START + timedelta(days=7), "horizon_start": START,
                 "horizon_end": START + timedelta(days=7), "key_id": "k" * 16, "envelope_z": ENVELOPE,
                 "asset_sha256s": [], "excluded": []} for v in range(1, manifests + 1)])
            screen = s.get(Screen, sid)
            assert screen is not None
            screen.manifest_version = manifests
            s.add(screen)
            s.add(ScreenHeartbeat(screen_id=sid, received_at=START, sent_at=START, uptime_s=1.0,
                                  manifest_version=str(manifests), current_slide_id=None, current_language="vi",
                                  frame_hash="a" * 64))
        s.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", type=int, default=300)
    parser.add_argument("--manifests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade_to_head(engine)
        _fleet(engine, args.screens, args.manifests)
        settings = Settings(data_dir=Path(tmp))
        now = START + timedelta(seconds=30)
        times = []
        for _ in range(args.rounds):
            with Session(engine) as s:
                began = time.perf_counter()
                rows = screen_rows(s, settings=settings, now=now)
                times.append((time.perf_counter() - began) * 1000)
        assert len(rows) == args.screens and all(r["latest_version"] == args.manifests for r in rows)
        print(f"{args.screens} screens x {args.manifests} manifests ({url.split(':')[0]}): "
              f"poll median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
