"""`signage-player run` killed with -9 during playback: on restart no play record is lost or doubled."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from player_agent.agent import MANIFEST_FILE
from player_agent.journal import Journal, PlayRecord, scan_frames
from player_agent.state import StateStore
from signage_core.manifest import Slide
from tests.player.agent_world import CAPTIONS, enrol_state, manifest, now_utc, signed
from tests.polling import eventually

ROOT = Path(__file__).parents[2]


def _config(tmp_path: Path, state_dir: Path) -> Path:
    config = tmp_path / "player.toml"
    config.write_text(
        f'state_dir = "{state_dir}"\noutput = "png"\nheartbeat_period_s = 1\n'
        f'[png]\npath = "{state_dir / "screen.png"}"\n[screenshot]\nperiod_s = 0\n',
        encoding="utf-8",
    )
    return config


def _start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from player_agent.cli import app; app()", "run", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _journaled(state_dir: Path) -> list[PlayRecord]:
    """Each play as its latest frame says (an item is journaled open when it starts, closed when it ends)."""
    data = (state_dir / "journal" / "plays.log").read_bytes()
    latest = {}
    for _, payload in scan_frames(data).payloads:
        record = PlayRecord.model_validate_json(payload)
        latest[record.id] = record
    return list(latest.values())


def test_kill_9_during_playback_loses_and_doubles_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-9")  # broker unreachable: the player runs offline
    slides = [Slide(id=f"s{i}", captions=dict(CAPTIONS)) for i in range(3)]
    body = manifest("gate-9", 4, now=now_utc(), slides=slides, durations_ms=1000, size=(320, 160))
    (state_dir / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state_dir / "state.json").accept_manifest(4)
    config = _config(tmp_path, state_dir)

    proc = _start(config)
    plays = state_dir / "journal" / "plays.log"
    eventually(lambda: plays.exists() and len(_journaled(state_dir)) >= 3, 15, "three plays journaled")
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    before = _journaled(state_dir)

    proc = _start(config)
    try:
        eventually(lambda: len(_journaled(state_dir)) >= len(before) + 2, 15, "plays after restart")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()

    with Journal(state_dir / "journal") as journal:
        pending = journal.pending(limit=1000)
    ids = [r.id for r in pending]
    assert len(ids) == len(set(ids)), "a play record was journaled twice"
    assert {r.id for r in before} <= set(ids), "a play journaled before the kill was lost"
    starts = [(r.slide_id, r.started_at) for r in pending]
    assert len(starts) == len(set(starts)), "the same showing was recorded twice"
    ordered = sorted(pending, key=lambda r: r.started_at)
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert b.started_at >= a.ended_at, f"overlapping plays {a} / {b}"
    assert len(pending) >= len(before) + 2
    cut_off = [r for r in before if r.state == "open"]
    assert cut_off, "the item on screen at the kill had no open record"
    assert all(p.interrupted for p in pending if p.id in {r.id for r in cut_off})
