"""Proof of play on a fake clock: rotation shares, language segments, crash, clock jumps, disk full, manifest version."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from player_agent.agent import MANIFEST_FILE, Agent
from player_agent.journal import Journal, JournalError, PlayRecord
from player_agent.output.null import NullOutput
from player_agent.state import StateStore
from signage_core import protocol as p
from signage_core.languages import Language
from signage_core.manifest import LayoutKind, ManifestBody, Slide, now_playing
from tests.player.agent_world import CAPTIONS, enrol_state, manifest, now_utc, settings_for, signed

VI, EN, KM = Language.VI, Language.EN, Language.KM


class Clocks:
    """A wall clock and a monotonic clock the test moves; apart only when a test makes the wall clock jump."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.mono = 1000.0

    def wall(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.mono += seconds


class FakeLink:
    """Connected, keeps what the player publishes."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.connected.set()
        self.sent: list[tuple[p.TopicKind, bytes]] = []

    def publish(self, kind: p.TopicKind, payload: bytes, **_: Any) -> None:
        self.sent.append((kind, payload))

    def stop(self, timeout_s: float = 0) -> None:
        self.connected.clear()

    def records(self) -> list[p.PlayRecord]:
        return [r for kind, m in self.sent if kind is p.TopicKind.PLAYLOG for r in p.decode(p.PlayLogBatch, m).records]


def boot(tmp_path: Path, body: ManifestBody) -> Path:
    state_dir = tmp_path / "state"
    enrol_state(state_dir, body.screen_id)
    (state_dir / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state_dir / "state.json").accept_manifest(body.version)
    return state_dir


def loop_start(body: ManifestBody) -> datetime:
    """An instant where the playlist loop starts again (its first item, from its first millisecond)."""
    at = now_utc()
    for _ in range(20):
        np = now_playing(body, at)
        if np.position == 0:  # whole milliseconds, as the player counts item starts
            return np.started_at.replace(microsecond=np.started_at.microsecond // 1000 * 1000)
        at = np.until
    raise AssertionError("no loop start found")


def agent_for(state_dir: Path, clocks: Clocks) -> Agent:
    return Agent(settings_for(state_dir, heartbeat_period_s=3600), NullOutput(), clock=clocks.wall,
                 monotonic=clocks.monotonic)


def run_until(agent: Agent, clocks: Clocks, end: datetime) -> list[tuple[Language, float]]:
    """Tick as the main loop would, sleeping to each wake-up; returns (language on screen, seconds) spans."""
    spans: list[tuple[Language, float]] = []
    while clocks.at < end:
        wake = min(agent.tick(), end)
        cur = agent.current
        assert cur is not None and cur.language is not None
        step = max((wake - clocks.at).total_seconds(), 0.001)
        spans.append((cur.language, step))
        clocks.advance(step)
    return spans


def test_rotate_loop_shows_every_language_its_share_in_the_configured_order(tmp_path: Path) -> None:
    slides = [Slide(id="a", captions=dict(CAPTIONS)), Slide(id="b", captions=dict(CAPTIONS))]
    body = manifest("gate-r", 1, now=now_utc(), slides=slides, durations_ms=(10_000, 12_000),
                    layout=LayoutKind.ROTATE, languages=(VI, KM, EN))
    state_dir = boot(tmp_path, body)
    start = loop_start(body)
    clocks = Clocks(start)
    agent = agent_for(state_dir, clocks)
    try:
        spans = run_until(agent, clocks, start + timedelta(seconds=22))  # one whole loop: 10 s + 12 s
        agent.tick()  # the next loop starts: the last item's record is closed
        records = agent.journal.pending()
    finally:
        agent.close()
    shown: dict[Language, float] = defaultdict(float)
    order: list[Language] = []
    for language, seconds in spans:
        shown[language] += seconds
        if not order or order[-1] != language:
            order.append(language)
    assert order == [VI, KM, EN, VI, KM, EN], (order, spans)  # Khmer before English, as configured; every item shows all three
    for language in (VI, KM, EN):
        assert shown[language] == pytest.approx(22 / 3, abs=0.01), shown
    # The records say the same, as segments: each language its frame time, nothing invented.
    assert [r.slide_id for r in records] == ["a", "b"]
    credited: dict[Language, int] = defaultdict(int)
    for r in records:
        assert r.segments is not None and [s.language for s in r.segments] == [VI, KM, EN]
        for s in r.segments:
            credited[s.language] += s.duration_ms
    assert dict(credited) == {VI: 3333 + 4000, KM: 3333 + 4000, EN: 3334 + 4000}


@pytest.mark.parametrize("layout", [LayoutKind.STACKED, LayoutKind.TICKER])
def test_stacked_and_ticker_items_credit_every_language_for_the_whole_item(tmp_path: Path,
                                                                           layout: LayoutKind) -> None:
    body = manifest("gate-s", 1, now=now_utc(), durations_ms=2000, layout=layout, size=(480, 64))
    state_dir = boot(tmp_path, body)
    start = loop_start(body)
    clocks = Clocks(start)
    agent = agent_for(state_dir, clocks)
    try:
        run_until(agent, clocks, start + timedelta(seconds=4))
        agent.tick()
        records = agent.journal.pending()
    finally:
        agent.close()
    assert len(records) == 2
    for r in records:
        assert r.duration_ms == 2000
        assert r.segments is not None
        assert {(s.language, s.offset_ms, s.duration_ms) for s in r.segments} == {
            (VI, 0, 2000), (EN, 0, 2000), (KM, 0, 2000)}


def test_item_on_screen_at_a_crash_is_recorded_at_its_last_checkpoint(tmp_path: Path) -> None:
    body = manifest("gate-c", 1, now=now_utc(), durations_ms=60_000)
    state_dir = boot(tmp_path, body)
    start = loop_start(body)
    clocks = Clocks(start)
    agent = agent_for(state_dir, clocks)
    run_until(agent, clocks, start + timedelta(seconds=4.5))
    agent.journal.close()  # the process dies here: nothing else is written, its locks go with it
    agent.cache.close()
    clocks.advance(30)
    again = agent_for(state_dir, clocks)
    try:
        records = again.journal.pending()
    finally:
        again.close()
    cut = [r for r in records if r.started_at == start]
    assert len(cut) == 1, records
    record = cut[0]
    assert record.interrupted and record.state == "closed"
    assert 4000 <= record.duration_ms <= 4500  # the last checkpoint, not the 30 s the player was down
    assert record.segments is not None and {s.language for s in record.segments} == {VI, EN, KM}


@pytest.mark.parametrize("jump_h", [3, -3])
def test_a_clock_jump_is_recorded_as_such_never_as_airtime(tmp_path: Path, jump_h: int) -> None:
    body = manifest("gate-j", 1, now=now_utc(), durations_ms=2000)
    state_dir = boot(tmp_path, body)
    start = loop_start(body) + timedelta(hours=6)
    clocks = Clocks(start)
    agent = agent_for(state_dir, clocks)
    try:
        agent.tick()
        clocks.mono += 1.5
        clocks.at += timedelta(hours=jump_h, seconds=1.5)  # NTP steps the clock while the item shows
        run_until(agent, clocks, clocks.at + timedelta(seconds=5))
        agent.tick()
        records = agent.journal.pending()
    finally:
        agent.close()
    assert records
    jumped = records[0]
    assert jumped.duration_ms == 1500
    assert jumped.clock_jump_ms == jump_h * 3_600_000
    for r in records:
        assert 0 < r.duration_ms <= 2000, r  # no 6-hour play for a 2-second item, no zero-length record
        assert r.segments and all(s.duration_ms == r.duration_ms for s in r.segments)
    after = sorted(records[1:], key=lambda r: r.started_at)
    for a, b in zip(after, after[1:], strict=False):
        assert b.started_at >= a.ended_at  # no overlap among the plays after the jump


def test_a_record_carries_the_manifest_version_it_was_played_from(tmp_path: Path) -> None:
    body = manifest("gate-v", 1, now=now_utc(), durations_ms=60_000)
    state_dir = boot(tmp_path, body)
    start = loop_start(body)
    clocks = Clocks(start)
    agent = agent_for(state_dir, clocks)
    try:
        run_until(agent, clocks, start + timedelta(seconds=5))
        newer = manifest("gate-v", 2, now=now_utc(), slides=[Slide(id="s2", captions=dict(CAPTIONS))],
                         durations_ms=60_000)
        agent._pending_version = 2
        agent._activate(signed(newer), newer)  # v2 arrives while v1's item is on screen
        agent.tick()
        clocks.advance(3)
        agent.tick()
    finally:
        agent.close()
    with Journal(state_dir / "journal") as journal:
        records = journal.pending()
    assert [(r.slide_id, r.manifest_version) for r in records] == [("s1", 1), ("s2", 2)]


def test_plays_that_cannot_be_journaled_are_held_in_memory_and_sent(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    body = manifest("gate-d", 1, now=now_utc(), durations_ms=5000)
    state_dir = boot(tmp_path, body)
    start = loop_start(body)
    clocks = Clocks(start)
    agent = agent_for(state_dir, clocks)
    link = FakeLink()
    agent.link = link  # type: ignore[assignment]
    plays_log = agent.journal._plays
    real_append = plays_log.append

    def disk_full(payloads: Any) -> list[int]:
        raise JournalError("cannot append to plays.log: disk full")

    try:
        monkeypatch.setattr(plays_log, "append", disk_full)
        run_until(agent, clocks, start + timedelta(seconds=20))  # four plays while the disk is full
        agent.tick()
        held = list(agent.outbox.held.values())
        assert len(held) >= 3 and all(r.state == "closed" for r in held)
        sent = {r.record_id for r in link.records()}
        assert {str(r.id) for r in held} <= sent  # sent straight from memory while connected
        agent._on_playlog_ack(p.encode(p.PlayLogAck(record_ids=[str(held[0].id)])))
        assert held[0].id not in agent.outbox.held
        monkeypatch.setattr(plays_log, "append", real_append)  # space is back
        run_until(agent, clocks, clocks.at + timedelta(seconds=6))
        assert not agent.outbox.held  # the held plays are on disk now
        on_disk = {r.id for r in agent.journal.pending(limit=1000)}
    finally:
        agent.close()
    assert {r.id for r in held[1:]} <= on_disk


def test_legacy_journal_records_are_kept_with_language_split_unknown(tmp_path: Path) -> None:
    legacy = ('{"id":"6f1f0d3e-5a7b-4c61-9d51-1b2a3c4d5e6f","slide_id":"s1","playlist_id":"p","language":"vi",'
              '"started_at":"2026-11-15T07:00:00Z","ended_at":"2026-11-15T07:00:08Z",'
              '"frame_hash":"' + "ab" * 32 + '","manifest_version":4}').encode()
    from player_agent.journal import encode_frame

    (tmp_path / "plays.log").write_bytes(encode_frame(legacy))
    with Journal(tmp_path) as journal:
        (record,) = journal.pending()
    assert isinstance(record, PlayRecord)
    assert record.duration_ms == 8000 and record.segments is None and record.language is VI


def test_an_alert_on_a_rotate_screen_keeps_its_stacked_look_and_the_screen_order(tmp_path: Path) -> None:
    from tests.player.agent_world import alert

    body = manifest("gate-a", 1, now=now_utc(), layout=LayoutKind.ROTATE, languages=(VI, KM, EN))
    state_dir = boot(tmp_path, body)
    clocks = Clocks(now_utc())
    agent = agent_for(state_dir, clocks)
    try:
        agent.tick()
        agent._on_alert(alert(["gate-a"], "closed", 7, now=clocks.at))
        agent.tick()
        cur = agent.current
        assert cur is not None and cur.alert_id == "closed" and cur.scene is not None
        assert cur.scene.spec.layout == "stacked" and cur.scene.spec.languages == (VI, KM, EN)
        assert cur.record is None  # alerts are not airtime of a playlist item
    finally:
        agent.close()
