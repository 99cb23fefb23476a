"""The strip's feed values survive a restart without network (feed.json), under the same checks as a live
message: signature, screen, replay guard, and each value hidden once past its freshness limit."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from player_agent.agent import FEED_FILE, MANIFEST_FILE, Agent
from player_agent.fsutil import last_good_path
from player_agent.state import StateStore
from signage_core.feeds import FeedBody, Reading, sign_feed, widget_texts
from signage_core.render.compose import draw_strip
from signage_core.schedule import TIMEZONE, from_local
from signage_core.screen import zoned_specs
from signage_core.signing import SigningKey
from tests.player.agent_world import (
    Clock,
    Frames,
    enrol_state,
    now_utc,
    settings_for,
    signed,
    start_agent,
)
from tests.player.test_zones import FPS, SPEED, WIDGETS, ZONES, feed, zoned_manifest
from tests.polling import eventually

Made = tuple[Path, Clock]


@pytest.fixture
def made(tmp_path: Path) -> Made:
    """An enrolled zoned screen whose broker (127.0.0.1:9) never answers: every start here is offline."""
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1")
    day = (now_utc() + timedelta(days=1)).astimezone(TIMEZONE).date()
    clock = Clock(from_local(datetime.combine(day, time(9, 0))))
    (state_dir / MANIFEST_FILE).write_bytes(signed(zoned_manifest(now_utc())))
    StateStore(state_dir / "state.json").accept_manifest(1)
    return state_dir, clock


def agent_for(state_dir: Path, clock: Clock) -> tuple[Agent, Frames]:
    output = Frames()
    settings = settings_for(state_dir, heartbeat_period_s=3600, ticker_fps=FPS, ticker_speed_px_s=SPEED)
    return Agent(settings, output, clock=clock), output  # type: ignore[arg-type]


def receive_then_power_cut(state_dir: Path, clock: Clock, payload: bytes) -> None:
    """A first run that accepts `payload` from the broker, then stops."""
    agent, _ = agent_for(state_dir, clock)
    try:
        agent._on_feed(payload)
        assert agent.last_error is None
    finally:
        agent.close()


def strip_of(frame: Image.Image) -> Image.Image:
    rect = zoned_specs(zoned_manifest(now_utc()).layout, ZONES).rects.strip
    assert rect is not None
    return frame.crop(rect.box)


def drawn_strip(texts: list[str]) -> Image.Image:
    rect = zoned_specs(zoned_manifest(now_utc()).layout, ZONES).rects.strip
    assert rect is not None
    return draw_strip(rect, texts, vertical_layout=False)


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_restart_offline_draws_the_saved_readings(made: Made) -> None:
    state_dir, clock = made
    observed = clock.at - timedelta(minutes=2)
    receive_then_power_cut(state_dir, clock, feed(clock.at, observed, 31.4))
    clock.advance(minutes=1)  # the power is back a minute later, the network is not
    settings = settings_for(state_dir, heartbeat_period_s=3600, ticker_fps=FPS, ticker_speed_px_s=SPEED)
    running = start_agent(settings, clock=clock)
    try:
        assert running.agent.readings["thoi-tiet"].values == {"c": 31.4}
        texts = widget_texts(WIDGETS, clock.at, running.agent.readings)
        assert "31 °C" in texts
        want = drawn_strip(texts)
        eventually(lambda: any(same(strip_of(frame), want) for _, frame in list(running.shown)), 10.0,
                   "the saved temperature on the strip")
        assert running.agent.link is None or not running.agent.link.connected.is_set()
        assert "feed" not in running.agent.problems
    finally:
        running.stop()


def test_a_saved_reading_past_its_limit_is_hidden_after_restart(made: Made) -> None:
    state_dir, clock = made
    observed = clock.at - timedelta(minutes=5)
    receive_then_power_cut(state_dir, clock, feed(clock.at, observed, 29.0))
    clock.at = observed + timedelta(seconds=590)  # 10 s before the widget's 10-minute limit
    agent, output = agent_for(state_dir, clock)
    try:
        agent.tick()
        fresh = widget_texts(WIDGETS, clock.at, agent.readings)
        assert "29 °C" in fresh and same(strip_of(output.frames[-1]), drawn_strip(fresh))
        clock.at = observed + timedelta(seconds=600)  # exactly its limit: hidden, never shown stale
        agent.tick()
        stale = widget_texts(WIDGETS, clock.at, agent.readings)
        assert stale == widget_texts(WIDGETS[:2], clock.at, {})
        assert same(strip_of(output.frames[-1]), drawn_strip(stale))
    finally:
        agent.close()

    clock.advance(hours=1)  # restarting later does not bring it back either
    agent, output = agent_for(state_dir, clock)
    try:
        agent.tick()
        assert same(strip_of(output.frames[-1]), drawn_strip(widget_texts(WIDGETS[:2], clock.at, {})))
    finally:
        agent.close()


def test_a_damaged_feed_file_is_reported_and_the_player_runs_without_readings(made: Made) -> None:
    state_dir, clock = made
    receive_then_power_cut(state_dir, clock, feed(clock.at, clock.at, 30.0))
    (state_dir / FEED_FILE).write_bytes(b'{"kind": "feed", "bo')
    last_good_path(state_dir / FEED_FILE).write_bytes(b"\x00" * 40)
    agent, output = agent_for(state_dir, clock)
    try:
        assert agent.readings == {}
        assert "feed.json is damaged" in agent.problems["feed"]
        agent.tick()
        assert same(strip_of(output.frames[-1]), drawn_strip(widget_texts(WIDGETS[:2], clock.at, {})))
        agent._on_feed(feed(clock.at + timedelta(seconds=1), clock.at, 30.5))  # the broker's copy mends it
        assert agent.readings["thoi-tiet"].values == {"c": 30.5} and "feed" not in agent.problems
    finally:
        agent.close()
    assert (state_dir / (FEED_FILE + ".damaged")).exists()


def test_a_damaged_feed_file_is_recovered_from_its_last_good_copy(made: Made) -> None:
    state_dir, clock = made
    receive_then_power_cut(state_dir, clock, feed(clock.at, clock.at, 30.0))
    (state_dir / FEED_FILE).write_bytes(b"")
    agent, _ = agent_for(state_dir, clock)
    try:
        assert agent.readings["thoi-tiet"].values == {"c": 30.0}
        assert "recovered from its last-good copy" in agent.problems["feed"]
    finally:
        agent.close()


def test_a_feed_file_signed_by_an_unknown_key_is_refused(made: Made) -> None:
    state_dir, clock = made
    body = FeedBody(screen_id="gate-1", version=int(clock.at.timestamp() * 1000), issued_at=clock.at,
                    expires_at=clock.at + timedelta(days=1),
                    readings={"thoi-tiet": Reading(kind="temperature", observed_at=clock.at, values={"c": 99.0})})
    forged = sign_feed(body, SigningKey.generate()).to_json()
    for path in (state_dir / FEED_FILE, last_good_path(state_dir / FEED_FILE)):
        path.write_bytes(forged)
    agent, _ = agent_for(state_dir, clock)
    try:
        assert agent.readings == {}
        assert "refused" in agent.problems["feed"]
    finally:
        agent.close()


def test_an_older_feed_than_the_saved_one_is_refused_after_restart(made: Made) -> None:
    state_dir, clock = made
    saved = feed(clock.at, clock.at, 30.0)
    receive_then_power_cut(state_dir, clock, saved)
    agent, _ = agent_for(state_dir, clock)
    try:
        agent._on_feed(saved)  # the broker's retained copy on reconnect: the same message, not an error
        assert agent.last_error is None
        agent._on_feed(feed(clock.at - timedelta(seconds=1), clock.at, 45.0))  # a replay of an older message
        assert agent.readings["thoi-tiet"].values == {"c": 30.0}
        assert agent.last_error is not None and "stale_version" in agent.last_error
    finally:
        agent.close()
    agent, _ = agent_for(state_dir, clock)  # and the refused one was not saved
    try:
        assert agent.readings["thoi-tiet"].values == {"c": 30.0}
    finally:
        agent.close()


def test_an_expired_feed_message_is_not_restored_and_is_no_problem(made: Made) -> None:
    state_dir, clock = made
    receive_then_power_cut(state_dir, clock, feed(clock.at, clock.at, 30.0))
    clock.advance(days=1)  # the test message is valid one day
    agent, _ = agent_for(state_dir, clock)
    try:
        assert agent.readings == {} and "feed" not in agent.problems
    finally:
        agent.close()


def test_a_feed_message_from_the_future_by_a_slow_clock_is_kept_for_a_later_start(made: Made) -> None:
    state_dir, clock = made
    receive_then_power_cut(state_dir, clock, feed(clock.at, clock.at, 30.0))
    right = clock.at
    clock.advance(days=-1)  # a flat RTC battery: the clock starts a day behind
    agent, _ = agent_for(state_dir, clock)
    try:
        assert agent.readings == {} and "feed" not in agent.problems
    finally:
        agent.close()
    assert (state_dir / FEED_FILE).exists() and not (state_dir / (FEED_FILE + ".damaged")).exists()
    clock.at = right + timedelta(minutes=1)
    agent, _ = agent_for(state_dir, clock)
    try:
        assert agent.readings["thoi-tiet"].values == {"c": 30.0}
    finally:
        agent.close()
