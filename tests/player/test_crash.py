"""kill -9 at random points during cache writes and journal appends: nothing corrupt, lost or doubled."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

from player_agent.cache import AssetCache
from player_agent.journal import Journal
from tests.player.crash_worker import asset

WORKER = Path(__file__).with_name("crash_worker.py")
ROUNDS = 6


def run_and_kill(kind: str, target: Path, rng: random.Random) -> list[str]:
    """Start the worker, SIGKILL it after a random delay, return every line it had printed."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), kind, str(target)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the worker is past its imports and writing
    time.sleep(rng.uniform(0.0, 0.4))
    proc.kill()
    rest = proc.stdout.read()
    proc.wait()
    assert proc.returncode == -9
    return [first, *rest.splitlines()] if first else rest.splitlines()


def test_kill_9_during_cache_writes(tmp_path: Path) -> None:
    rng = random.Random(9)
    stored: dict[str, int] = {}
    for _ in range(ROUNDS):
        for line in run_and_kill("cache", tmp_path, rng):
            _, index, digest = line.split()
            stored[digest] = int(index)
        with AssetCache(tmp_path) as cache:  # restart: sweeps temp files
            assert not any((tmp_path / "tmp").iterdir())
            for digest, index in stored.items():
                assert cache.read_verified(digest) == asset(index), (
                    "a stored asset was lost or damaged"
                )
        for bucket in (tmp_path / "objects").iterdir():
            for entry in bucket.iterdir():
                data = entry.read_bytes()
                assert hashlib.sha256(data).hexdigest() == entry.name, (
                    "corrupt file under a final name"
                )
    assert len(stored) >= ROUNDS


def test_kill_9_during_journal_appends(tmp_path: Path) -> None:
    rng = random.Random(3)
    appended: list[UUID] = []
    acked: set[UUID] = set()
    acks_seen = 0
    total_appends = 0
    for _ in range(ROUNDS):
        in_flight_ack: set[UUID] = set()
        for line in run_and_kill("journal", tmp_path, rng):
            word, *rest = line.split()
            if word == "APPENDED":
                appended.append(UUID(rest[0]))
                total_appends += 1
            elif word == "ACKING":
                in_flight_ack = {UUID(i) for i in rest}
            elif word == "ACKED":
                acked.update(UUID(i) for i in rest)
                in_flight_ack = set()
                acks_seen += 1
        with Journal(tmp_path) as journal:
            pending = [r.id for r in journal.pending(limit=1_000_000)]
            assert len(pending) == len(set(pending)), "a play would be counted twice"
            missing = {i for i in appended if i not in acked and i not in set(pending)}
            # Only an acknowledge cut by the kill may have removed plays the test saw as pending.
            assert missing <= in_flight_ack, f"{len(missing)} returned append(s) lost"
            assert not acked & set(pending), "an acknowledged play came back"
            # At most the one append in flight at the kill is extra.
            assert len(set(pending) - set(appended)) <= 1
            # Next round starts from what is on disk, the in-flight extra included.
            appended = list(pending)
            acked = set()
    assert journal.stats().skipped_frames == 0
    print(f"{total_appends} appends, {acks_seen} acks over {ROUNDS} kills")
    assert acks_seen > 0, "the kills never hit a run long enough to acknowledge"
