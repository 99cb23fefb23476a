"""Run as a subprocess by the kill -9 tests: writes forever and prints what was durably done."""

from __future__ import annotations

import hashlib
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from player_agent.cache import AssetCache
from player_agent.journal import Journal, LanguageSegment, PlayRecord, new_play_id
from signage_core.languages import Language

T0 = datetime(2026, 2, 17, 8, 0, tzinfo=UTC)


def asset(index: int) -> bytes:
    """Deterministic content so the parent can check every byte after the kill."""
    rng = random.Random(index)
    return rng.randbytes(rng.randint(1, 300_000))


def run_cache(root: Path) -> None:
    cache = AssetCache(root)
    index = 0
    while True:
        data = asset(index)
        digest = hashlib.sha256(data).hexdigest()
        if index % 2:
            cache.put_bytes(digest, data)
        elif not cache.has(digest):
            # Half through the resumable path, as the fetcher does: resume, append, commit.
            for start in range(cache.partial_size(digest), len(data), 65_536):
                cache.append_partial(digest, data[start : start + 65_536], offset=start)
            cache.commit_partial(digest)
        print(f"STORED {index} {digest}", flush=True)
        index += 1


def run_journal(directory: Path) -> None:
    journal = Journal(directory)
    n = 0
    langs = list(Language)
    while True:
        start = T0 + timedelta(seconds=10 * n)
        record = PlayRecord(
            id=new_play_id(),
            slide_id=f"slide-{n % 7}",
            started_at=start,
            duration_ms=10_000,
            segments=(LanguageSegment(language=langs[n % 3], offset_ms=0, duration_ms=10_000),),
            frame_hash=hashlib.sha256(str(n).encode()).hexdigest(),
            manifest_version=3,
        )
        journal.append(record)
        print(f"APPENDED {record.id}", flush=True)
        n += 1
        if n % 25 == 0:
            # Acknowledge the oldest batch as a server would, compacting now and then.
            batch = journal.pending(limit=20)
            print("ACKING " + " ".join(str(r.id) for r in batch), flush=True)
            journal.acknowledge(r.id for r in batch)
            print("ACKED " + " ".join(str(r.id) for r in batch), flush=True)
            if n % 100 == 0:
                journal.compact()
                print("COMPACTED", flush=True)


if __name__ == "__main__":
    kind, target = sys.argv[1], Path(sys.argv[2])
    {"cache": run_cache, "journal": run_journal}[kind](target)
