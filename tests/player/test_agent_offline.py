"""The player without a network: plays what it verified last, pixel-exact, and refuses what it cannot trust."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from player_agent.agent import MANIFEST_FILE, Agent
from player_agent.state import StateStore
from signage_core.manifest import LayoutKind, now_playing
from signage_core.render import frame_hash, render_slide
from signage_core.schedule import to_local
from signage_core.screen import screen_spec
from signage_core.signing import SigningKey
from tests.player.agent_world import (
    CAPTIONS,
    Clock,
    Frames,
    enrol_state,
    manifest,
    now_utc,
    settings_for,
    signed,
    start_agent,
)
from tests.polling import eventually


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def _boot_with(tmp_path: Path, payload: bytes, version: int) -> Path:
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1")
    (state_dir / MANIFEST_FILE).write_bytes(payload)
    StateStore(state_dir / "state.json").accept_manifest(version)
    return state_dir


def test_network_down_plays_cached_manifest_within_2s_pixel_exact(tmp_path: Path) -> None:
    body = manifest("gate-1", 3, now=now_utc())
    state_dir = _boot_with(tmp_path, signed(body), 3)
    started = time.monotonic()
    running = start_agent(settings_for(state_dir))
    try:
        png = state_dir / "screen.png"
        eventually(png.exists, 2.0, "first frame")
        assert time.monotonic() - started < 2.0
        expected = render_slide(screen_spec(body.layout), CAPTIONS)
        with Image.open(png) as shown:
            assert _same(shown, expected), "png output differs from render_slide for the same spec"
        assert running.agent.manifest is not None and running.agent.manifest.version == 3
    finally:
        running.stop()


def test_nothing_valid_shows_waiting_card_with_screen_name(tmp_path: Path) -> None:
    other_key = SigningKey.generate()
    body = manifest("gate-1", 2, now=now_utc())
    state_dir = _boot_with(tmp_path, signed(body, other_key), 2)  # signed by a key we never pinned
    running = start_agent(settings_for(state_dir))
    try:
        eventually(lambda: running.shown, 2.0, "first frame")
        agent = running.agent
        assert agent.manifest is None
        assert agent.last_error is not None and "unknown_key" in agent.last_error
        assert agent.current is not None and agent.current.identity == ("waiting",)
        card = running.shown[0][1]
        assert card.getbbox() is not None  # something is drawn, not a black screen
    finally:
        running.stop()


def _play(agent: Agent, clock: Clock, seconds: float, step_s: float) -> None:
    """Wake the loop every `step_s` of the test's clock, as heartbeats and frames would, for `seconds`."""
    for _ in range(round(seconds / step_s)):
        agent.tick()
        clock.advance(seconds=step_s)
    agent.tick()


def test_rotate_steps_languages_and_records_each_item(tmp_path: Path) -> None:
    from signage_core.manifest import Slide

    slides = [Slide(id="a", captions=dict(CAPTIONS)), Slide(id="b", captions=dict(CAPTIONS))]
    body = manifest("gate-1", 1, now=now_utc(), slides=slides, durations_ms=1500, layout=LayoutKind.ROTATE,
                    rotation_ms=500)
    state_dir = _boot_with(tmp_path, signed(body), 1)
    clock = Clock(now_playing(body, now_utc()).started_at)  # an item's first instant
    agent = Agent(settings_for(state_dir), Frames(), clock=clock)  # type: ignore[arg-type]
    try:
        _play(agent, clock, 2.6, 0.05)
    finally:
        agent.close()
    assert agent.renders.renders >= 2
    from player_agent.journal import Journal

    with Journal(state_dir / "journal") as journal:
        records = journal.pending()
    assert len(records) >= 2
    assert {r.slide_id for r in records} == {"a", "b"}
    for before, after in zip(records, records[1:], strict=False):
        assert after.started_at >= before.ended_at  # no overlap: each item counted once


def test_static_slide_is_rendered_once_not_per_wakeup(tmp_path: Path) -> None:
    body = manifest("gate-1", 1, now=now_utc(), durations_ms=3_600_000)
    state_dir = _boot_with(tmp_path, signed(body), 1)
    # At an item boundary the one slide starts a new play and is shown again (not re-rendered): start
    # the watched window just after one, so none falls inside it.
    clock = Clock(now_playing(body, now_utc()).until + timedelta(seconds=1))
    output = Frames()
    agent = Agent(settings_for(state_dir), output, clock=clock)  # type: ignore[arg-type]
    try:
        _play(agent, clock, 5.0, 0.1)  # heartbeats wake the loop; the slide must not be redrawn
    finally:
        agent.close()
    assert agent.renders.renders == 1
    assert len(output.frames) == 1


def test_not_enrolled_refuses_to_start(tmp_path: Path) -> None:
    from player_agent.output.null import NullOutput
    from player_agent.state import NotEnrolled

    with pytest.raises(NotEnrolled, match="enroll"):
        Agent(settings_for(tmp_path), NullOutput())


def test_ticker_hands_frames_to_the_output_at_the_configured_fps(tmp_path: Path) -> None:
    import threading

    from player_agent.output.null import NullOutput

    class Recording(NullOutput):
        def __init__(self) -> None:
            super().__init__()
            self.shown: list[tuple[float, Image.Image]] = []

        def show(self, frame: Image.Image) -> None:
            super().show(frame)
            self.shown.append((time.monotonic(), frame))

    body = manifest("gate-1", 1, now=now_utc(), layout=LayoutKind.TICKER, size=(960, 160))
    state_dir = _boot_with(tmp_path, signed(body), 1)
    output = Recording()
    agent = Agent(settings_for(state_dir, ticker_fps=30, ticker_speed_px_s=300.0), output)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: output.shown, 2.0, "first frame")
        time.sleep(1.0)
    finally:
        agent.stop()
        thread.join(5)
    times = [t for t, _ in output.shown]
    recent = [t for t in times if t >= times[-1] - 1.0]
    # Paced by the fps clock: never more than 30 a second; a loaded box may drop frames, not run ahead.
    assert 10 <= len(recent) <= 33, f"{len(recent)} frames in the last second at 30 fps"
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    assert gaps[len(gaps) // 2] > 0.8 / 30, "frames faster than the configured fps: the loop is polling"
    running = output
    first, last = running.shown[0][1], running.shown[-1][1]
    assert first.size == (960, 160) and frame_hash(first) != frame_hash(last)  # it scrolls


def test_off_hours_blank_and_wake_exactly_at_switch_on(tmp_path: Path) -> None:
    from player_agent.output.null import NullOutput
    from signage_core.schedule import TimeWindow, from_local

    day = to_local(now_utc()).date()
    body = manifest("gate-1", 1, now=now_utc(), on_hours=TimeWindow(start=dtime(6, 0), end=dtime(22, 0)))
    state_dir = _boot_with(tmp_path, signed(body), 1)
    clock = Clock(from_local(datetime.combine(day, dtime(5, 30))))
    output = NullOutput()
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), output, clock=clock)
    try:
        wake = agent.tick()
        assert agent.current is not None and agent.current.identity == ("off",)
        assert output.frames == 0
        assert wake == from_local(datetime.combine(day, dtime(6, 0)))  # no polling in between
        clock.at = wake
        agent.tick()
        assert agent.current is not None and agent.current.slide_id == "s1" and output.frames == 1
    finally:
        agent.close()


def test_past_the_horizon_keeps_looping_default_and_reports_stale(tmp_path: Path) -> None:
    from player_agent.output.null import NullOutput

    body = manifest("gate-1", 1, now=now_utc())
    state_dir = _boot_with(tmp_path, signed(body), 1)
    clock = Clock(body.horizon_end + timedelta(days=3))
    agent = Agent(settings_for(state_dir), NullOutput(), clock=clock)
    try:
        agent.tick()
        assert agent.current is not None and agent.current.slide_id == "s1"
        beat = agent.heartbeat(clock.at)
        assert beat.stale is True and beat.manifest_version == "1" and beat.current_slide_id == "s1"
    finally:
        agent.close()


def test_a_slide_that_cannot_be_drawn_is_skipped_and_reported(tmp_path: Path) -> None:
    from signage_core.languages import Language
    from signage_core.manifest import Slide

    broken = dict(CAPTIONS)
    broken[Language.EN] = "Gate \ue000 closed"  # a private-use character no font draws
    slides = [Slide(id="bad", captions=broken), Slide(id="good", captions=dict(CAPTIONS))]
    body = manifest("gate-1", 1, now=now_utc(), slides=slides, durations_ms=1000)
    state_dir = _boot_with(tmp_path, signed(body), 1)
    running = start_agent(settings_for(state_dir))
    try:
        eventually(lambda: running.agent.current is not None and running.agent.current.slide_id == "good"
                 and running.agent.current.frame_id is not None, 4, "the good slide on screen")
        eventually(lambda: running.agent.last_error is not None and "cannot draw slide:bad" in running.agent.last_error,
                 3, "the bad slide reported")
        assert running.thread.is_alive()
    finally:
        running.stop()


def test_tells_systemd_ready_then_pets_the_watchdog_while_a_static_slide_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import socket
    import threading

    from player_agent.output.null import NullOutput
    from player_agent.watchdog import Notifier

    body = manifest("gate-1", 1, now=now_utc())
    state_dir = _boot_with(tmp_path, signed(body), 1)
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(0.2)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # pet every 0.1 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), NullOutput(), notifier=Notifier(address))
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    messages: list[bytes] = []
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                messages.append(listener.recv(4096))
            except TimeoutError:
                continue
    finally:
        agent.stop()
        thread.join(5)
        listener.close()
    assert sum(m.startswith(b"READY=1") for m in messages) == 1  # once, after the first frame
    pets = messages.count(b"WATCHDOG=1")
    assert 5 <= pets <= 13, f"{pets} watchdog pets in 1 s at a 0.1 s interval"
