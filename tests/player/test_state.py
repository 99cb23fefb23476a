"""Persisted identity and counters: durable, and never moved backwards (replays stay refused)."""

from __future__ import annotations

import json
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from player_agent.state import NotEnrolled, StaleUpdate, StateCorrupt, StateError, StateStore

KEY = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="


def enrol(store: StateStore, screen: str = "hoa-lu-arrivals") -> None:
    store.enrol(
        screen_id=screen,
        broker_url="mqtts://broker.example:8883",
        broker_username=screen,
        broker_password="s3cret",
        pinned_keys=(KEY,),
    )


def test_fresh_player_is_not_enrolled(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    assert not store.state.enrolled
    assert store.state.manifest_version == 0
    with pytest.raises(NotEnrolled):
        store.accept_manifest(1)


def test_survives_restart_and_keeps_credentials_private(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    enrol(store)
    store.accept_manifest(7)
    store.accept_alert(3)
    store.accept_command(2)
    again = StateStore(path).state
    assert again.screen_id == "hoa-lu-arrivals"
    assert again.manifest_version == 7 and again.alert_seq == 3 and again.command_seq == 2
    assert again.broker_password is not None
    assert again.broker_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(again)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_replay_refused_even_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    enrol(store)
    store.accept_manifest(5)
    with pytest.raises(StaleUpdate, match="manifest version 5 is not newer than the accepted 5"):
        store.accept_manifest(5)
    restarted = StateStore(path)
    with pytest.raises(StaleUpdate):
        restarted.accept_manifest(4)
    with pytest.raises(StaleUpdate):
        restarted.accept_alert(0)
    assert restarted.accept_manifest(6).manifest_version == 6


def test_refused_change_leaves_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    enrol(store)
    store.accept_manifest(9)
    before = path.read_bytes()
    with pytest.raises(StaleUpdate):
        store.accept_manifest(3)
    with pytest.raises(StateError):
        store.accept_manifest(True)
    assert path.read_bytes() == before


def test_re_enrol_same_screen_keeps_counters_other_screen_resets(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    enrol(store)
    store.accept_manifest(12)
    enrol(store)
    assert store.state.manifest_version == 12
    enrol(store, "hoang-dieu-ticker")
    assert store.state.manifest_version == 0


def test_enrol_requires_a_key(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with pytest.raises(StateError, match="pin at least one"):
        store.enrol(
            screen_id="x",
            broker_url="mqtt://b",
            broker_username="x",
            broker_password="p",
            pinned_keys=(),
        )


def test_blank_key_refused_with_its_field(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with pytest.raises(StateError, match="pinned_keys: Value error, a pinned key is empty"):
        store.enrol(
            screen_id="x",
            broker_url="mqtt://b",
            broker_username="x",
            broker_password="p",
            pinned_keys=(" ",),
        )
    assert not (tmp_path / "state.json").exists()


def test_damaged_file_falls_back_to_its_last_good_copy_never_to_a_blank_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    enrol(store)
    store.accept_manifest(40)
    data = json.loads(path.read_text())
    data["manifest_version"] = -1
    path.write_text(json.dumps(data))
    recovered = StateStore(path)
    assert recovered.state.manifest_version == 40 and recovered.state.screen_id == "hoa-lu-arrivals"
    assert recovered.problem is not None and "damaged" in recovered.problem and "last-good" in recovered.problem
    assert path.read_text() != (tmp_path / "state.json.last-good").read_text()  # a reader repairs nothing
    recovered.keep()
    assert StateStore(path).problem is None and json.loads(path.read_text())["manifest_version"] == 40
    path.write_text('{"screen_id": "a", "manifest_ver')
    (tmp_path / "state.json.last-good").write_text("")
    with pytest.raises(StateCorrupt, match="damaged"):
        StateStore(path)


def test_every_change_writes_the_last_good_copy_first(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = StateStore(path)
    enrol(store)
    store.accept_manifest(3)
    copy = tmp_path / "state.json.last-good"
    assert copy.read_bytes() == path.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # it holds the broker password too
    path.unlink()
    assert StateStore(path).state.manifest_version == 3  # a lost file is not a fresh player


WRITER = """
import sys
from pathlib import Path
from player_agent.state import StateStore
store = StateStore(Path(sys.argv[1]))
store.enrol(screen_id="s", broker_url="mqtt://b", broker_username="s", broker_password="p",
            pinned_keys=("k",))
v = store.state.manifest_version
while True:
    v += 1
    store.accept_manifest(v)
    print(v, flush=True)
"""


def test_kill_9_never_loses_an_accepted_version(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    rng = random.Random(6)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        wanted = rng.randint(5, 60)
        last = 0
        for count, line in enumerate(proc.stdout, start=1):
            last = int(line)
            if count >= wanted:
                break
        proc.kill()
        # Lines still in the pipe are accepts that returned before the kill.
        for line in proc.stdout:
            last = int(line)
        proc.wait()
        persisted = StateStore(path).state.manifest_version
        # Every accept that returned is on disk; only the one in flight may be extra.
        assert last <= persisted <= last + 1
        StateStore(path).accept_alert(persisted + 1)  # the next write sweeps cut writes
        assert not list(tmp_path.glob(".state.json.*.tmp"))


def test_two_processes_never_undo_each_other(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    running = StateStore(path)  # the player, started before enrolment
    technician = StateStore(path)  # `signage-player enroll` in a shell
    enrol(technician)
    assert running.accept_manifest(3).screen_id == "hoa-lu-arrivals"
    with pytest.raises(StaleUpdate):
        technician.accept_manifest(3)
    assert technician.reload().manifest_version == 3
