"""The key watch: quiet while the key is unchanged, chain before manifests after a rotation, retried on failure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from signage_server.manifests.jobs import KeyWatch
from signage_server.manifests.keys import KeyRing, rotate_key

NOW = datetime(2026, 2, 16, 3, 0, tzinfo=UTC)


class Calls:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.fail_resign = False

    def step(self, name: str) -> None:
        if name == "resign" and self.fail_resign:
            raise RuntimeError("database is down")
        self.log.append(name)


def watch_for(tmp_path: Path, calls: Calls) -> KeyWatch:
    ring = KeyRing(tmp_path)
    ring.current()
    return KeyWatch(ring=ring, resign=lambda: calls.step("resign"), publish_chain=lambda: calls.step("chain"),
                    publish_manifests=lambda: calls.step("manifests"))


def test_first_check_publishes_then_stays_quiet_until_the_key_file_changes(tmp_path: Path) -> None:
    calls = Calls()
    watch = watch_for(tmp_path, calls)
    assert watch.check() is True  # at start: a rotation made while the server was down
    assert calls.log == ["chain", "resign", "manifests"]
    assert watch.check() is False and watch.check() is False
    assert calls.log == ["chain", "resign", "manifests"]
    rotate_key(tmp_path, now=NOW)  # what the CLI does, behind the server's back
    assert watch.check() is True
    assert calls.log[3:] == ["chain", "resign", "manifests"]  # hand-overs reach players before new manifests


def test_a_failed_round_is_tried_again_at_the_next_check(tmp_path: Path) -> None:
    calls = Calls()
    watch = watch_for(tmp_path, calls)
    watch.check()
    rotate_key(tmp_path, now=NOW)
    calls.fail_resign = True
    with pytest.raises(RuntimeError, match="database is down"):
        watch.check()
    calls.fail_resign = False
    assert watch.check() is True
    assert calls.log[-2:] == ["resign", "manifests"]


def test_rotation_inside_the_server_is_published_at_once(tmp_path: Path) -> None:
    calls = Calls()
    watch = watch_for(tmp_path, calls)
    watch.check()
    old = watch.ring.current().key_id
    rotation = watch.rotate(now=NOW, grace=None)
    assert rotation.old_key_id == old and watch.ring.current().key_id == rotation.new_key_id
    assert [h.key_id for h in watch.ring.handovers()] == [old]
    assert calls.log[3:] == ["chain", "resign", "manifests"]
