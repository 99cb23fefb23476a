"""The player follows the manifest's brightness plan offline, through a command or by dimming its frames."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from astral import Observer
from astral.sun import sun
from PIL import Image, ImageChops

from player_agent.agent import MANIFEST_FILE, Agent
from player_agent.brightness import BrightnessControl, Ran, dim, run_argv
from player_agent.config import BrightnessOptions, ConfigError, load_settings
from player_agent.state import StateStore
from signage_core.brightness import BrightnessOverride, BrightnessPlan, Coordinates
from signage_core.render import frame_hash, render_slide
from signage_core.schedule import TIMEZONE, from_local
from signage_core.screen import screen_spec
from tests.player.agent_world import (
    CAPTIONS,
    Clock,
    Frames,
    alert,
    enrol_state,
    manifest,
    now_utc,
    settings_for,
    signed,
)

HOA_LU = Coordinates(latitude=11.93, longitude=106.52)
PLAN = BrightnessPlan(day_percent=100, night_percent=20, ramp_minutes=30, coordinates=HOA_LU)


class Recorder:
    """A command runner that records argv and answers as told."""

    def __init__(self, *answers: Ran) -> None:
        self.calls: list[list[str]] = []
        self.answers = list(answers)

    def __call__(self, argv: Sequence[str], timeout_s: float) -> Ran:
        self.calls.append(list(argv))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


OK = Ran(0, "", None)


def boot(tmp_path: Path, plan: BrightnessPlan | None = PLAN, *, groups: tuple[str, ...] = ()) -> Path:
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1", groups=groups)
    body = manifest("gate-1", 1, now=now_utc(), durations_ms=3_600_000, brightness=plan)
    (state_dir / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state_dir / "state.json").accept_manifest(1)
    return state_dir


def rendered() -> Image.Image:
    body = manifest("gate-1", 1, now=now_utc())
    return render_slide(screen_spec(body.layout), CAPTIONS).convert("RGB")


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    """A local time tomorrow: inside the test manifest's horizon, whatever time the test runs."""
    day = (now_utc() + timedelta(days=1)).astimezone(TIMEZONE).date()
    return from_local(datetime.combine(day, time(hour, minute)))


def sun_of(day: date) -> dict[str, datetime]:
    return sun(Observer(HOA_LU.latitude, HOA_LU.longitude), date=day, tzinfo=TIMEZONE)


def test_dimming_scales_light_output_pixel_by_pixel() -> None:
    img = Image.new("RGB", (3, 1))
    img.putdata([(255, 255, 255), (128, 64, 0), (0, 0, 0)])
    half = dim(img, 50)
    # 50 % of the light: 255 · 0.5^(1/2.2) = 186 in gamma-encoded values; black stays black.
    assert list(half.get_flattened_data()) == [(186, 186, 186), (93, 47, 0), (0, 0, 0)]
    assert list(dim(img, 0).get_flattened_data()) == [(0, 0, 0)] * 3
    assert dim(img, 100) is img


def test_offline_player_follows_the_sun_for_days_with_its_clock(tmp_path: Path) -> None:
    state_dir = boot(tmp_path)
    day = (now_utc() + timedelta(days=1)).astimezone(TIMEZONE).date()
    clock = Clock(from_local(datetime.combine(day, time(2, 0))))
    output = Frames()
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), output, clock=clock)  # type: ignore[arg-type]
    full = rendered()
    try:
        agent.tick()
        assert same(output.frames[-1], dim(full, 20)), "night: the frame is dimmed to the night level"
        beat = agent.heartbeat(clock.at)
        assert (beat.brightness_percent, beat.brightness_source) == (20, "plan")
        # Proof of play and alerts hash what was approved, not the dimmed pixels.
        assert agent.current is not None and agent.current.frame_hash is not None
        assert agent.current.frame_hash() == frame_hash(full)

        rise = sun_of(day)["sunrise"]
        clock.at = rise + timedelta(minutes=15)
        wake = agent.tick()
        assert 55 <= agent.level.percent <= 65 if agent.level else False  # half-way up the ramp
        assert same(output.frames[-1], dim(full, agent.level.percent))
        assert wake <= clock.at + timedelta(seconds=30)  # the loop wakes for the next step of the ramp
        clock.at = from_local(datetime.combine(day, time(12, 0)))
        agent.tick()
        assert same(output.frames[-1], full) and agent.heartbeat(clock.at).brightness_percent == 100

        # Ten days on, past the manifest's horizon, with no network: still dim at night.
        later = day + timedelta(days=10)
        clock.at = sun_of(later)["sunset"] + timedelta(hours=1)
        agent.tick()
        beat = agent.heartbeat(clock.at)
        assert beat.stale and (beat.brightness_percent, beat.brightness_source) == (20, "plan")
        assert same(output.frames[-1], dim(full, 20))
    finally:
        agent.close()


def test_off_hours_report_no_level_and_the_level_is_sent_again_when_lit(tmp_path: Path) -> None:
    from signage_core.schedule import TimeWindow

    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1")
    body = manifest("gate-1", 1, now=now_utc(), brightness=PLAN, on_hours=TimeWindow(start=time(5), end=time(22)))
    (state_dir / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state_dir / "state.json").accept_manifest(1)
    clock = Clock(tomorrow_at(21, 30))
    runner = Recorder(OK)
    options = BrightnessOptions(command=("/usr/local/bin/set-led-brightness", "{percent}"))
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600, brightness=options), Frames(), clock=clock,  # type: ignore[arg-type]
                  brightness=BrightnessControl(options, runner=runner))
    try:
        agent.tick()
        assert agent.heartbeat(clock.at).brightness_percent == 20 and runner.calls[-1][-1] == "20"
        clock.at = tomorrow_at(22, 30)
        agent.tick()
        assert agent.current is not None and agent.current.identity == ("off",)
        assert agent.heartbeat(clock.at).brightness_percent is None
        calls = len(runner.calls)
        clock.at = tomorrow_at(5, 30) + timedelta(days=1)  # lit again before sunrise: night level, sent again
        agent.tick()
        assert len(runner.calls) == calls + 1 and runner.calls[-1][-1] == "20"
    finally:
        agent.close()


def test_without_a_plan_nothing_is_dimmed_or_reported(tmp_path: Path) -> None:
    state_dir = boot(tmp_path, plan=None)
    output = Frames()
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), output)  # type: ignore[arg-type]
    try:
        agent.tick()
        assert same(output.frames[-1], rendered())
        beat = agent.heartbeat(now_utc())
        assert beat.brightness_percent is None and beat.brightness_source is None
    finally:
        agent.close()


def test_command_gets_the_level_as_an_argument_and_failures_are_reported(tmp_path: Path) -> None:
    state_dir = boot(tmp_path)
    clock = Clock(tomorrow_at(23))
    runner = Recorder(Ran(1, "", "set-led-brightness exited 1: card not found"), OK)
    options = BrightnessOptions(command=("/usr/local/bin/set-led-brightness", "--level={percent}", "x; reboot"))
    settings = settings_for(state_dir, heartbeat_period_s=3600, brightness=options)
    output = Frames()
    agent = Agent(settings, output, clock=clock, brightness=BrightnessControl(options, runner=runner))  # type: ignore[arg-type]
    try:
        agent.tick()
        assert runner.calls == [["/usr/local/bin/set-led-brightness", "--level=20", "x; reboot"]]
        assert same(output.frames[-1], rendered()), "the controller dims, so the frame is not dimmed too"
        beat = agent.heartbeat(clock.at)
        assert any("brightness command failed" in p and "card not found" in p for p in beat.problems)
        agent.tick()
        assert len(runner.calls) == 1, "a failed level is retried after a while, not on every tick"
        clock.at += timedelta(minutes=2)
        agent.tick()  # the retry succeeds: the problem clears
        assert len(runner.calls) == 2
        assert not any("brightness" in p for p in agent.heartbeat(clock.at).problems)
        agent.tick()
        assert len(runner.calls) == 2, "an accepted level is not sent again"
    finally:
        agent.close()


def test_real_command_runs_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "level.json"
    script = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
    ran = run_argv([sys.executable, "-c", script, str(out), "42", "$(touch pwned); echo"], 10)
    assert ran.error is None
    assert json.loads(out.read_text()) == ["42", "$(touch pwned); echo"]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    failed = run_argv([sys.executable, "-c", "import sys; sys.exit('no LED card')"], 10)
    assert failed.code == 1 and failed.error is not None and "no LED card" in failed.error
    slow = run_argv([sys.executable, "-c", "import time; time.sleep(5)"], 0.2)
    assert slow.code == -1 and slow.error is not None and "did not finish within 0.2 s" in slow.error
    missing = run_argv(["/nonexistent/set-led-brightness", "1"], 1)
    assert missing.error is not None and "cannot be run" in missing.error


def test_an_urgent_alert_is_shown_at_full_level_over_a_dim_night(tmp_path: Path) -> None:
    state_dir = boot(tmp_path, groups=("loc-ninh",))
    output = Frames()
    night = sun_of(now_utc().astimezone(TIMEZONE).date())["sunset"] + timedelta(hours=2)
    clock = Clock(night)
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), output, clock=clock)  # type: ignore[arg-type]
    try:
        agent.tick()
        assert agent.level is not None and agent.level.percent == 20
        assert agent.current is not None and agent.current.image is not None
        assert same(output.frames[-1], dim(agent.current.image, 20))
        agent._on_alert(alert(["gate-1"], "closure-1", 7, now=night, ttl_s=600))
        agent.tick()
        beat = agent.heartbeat(clock.at)
        assert (beat.brightness_percent, beat.brightness_source) == (100, "alert")
        assert agent.current is not None and agent.current.image is not None
        assert same(output.frames[-1], agent.current.image), "the alert is not dimmed"
        clock.at = night + timedelta(seconds=601)
        agent.tick()  # the alert expired: back to the night level
        assert agent.level is not None and (agent.level.percent, agent.level.source.value) == (20, "plan")
    finally:
        agent.close()


def test_the_operators_override_beats_the_plan_until_it_ends(tmp_path: Path) -> None:
    until = tomorrow_at(1)
    state_dir = boot(tmp_path, plan=PLAN.model_copy(update={"override": BrightnessOverride(percent=70, until=until)}))
    clock = Clock(until - timedelta(hours=1))
    output = Frames()
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), output, clock=clock)  # type: ignore[arg-type]
    try:
        wake = agent.tick()
        assert (agent.level.percent, agent.level.source.value) == (70, "override") if agent.level else False
        assert wake <= until
        clock.at = until
        agent.tick()
        assert agent.level is not None and agent.level.percent == 20
        assert same(output.frames[-1], dim(rendered(), 20)), "the same slide is dimmed again at the change"
    finally:
        agent.close()


def test_light_sensor_sets_the_level_and_a_bad_reading_falls_back_to_the_plan(tmp_path: Path) -> None:
    state_dir = boot(tmp_path)
    clock = Clock(tomorrow_at(12))
    runner = Recorder(Ran(0, "500 lux\n", None), Ran(0, "ERR\n", None))
    options = BrightnessOptions(sensor_command=("/usr/local/bin/read-lux",), sensor_period_s=60,
                                sensor_curve=((0, 10), (1000, 60)))
    settings = settings_for(state_dir, heartbeat_period_s=3600, brightness=options)
    agent = Agent(settings, Frames(), clock=clock, brightness=BrightnessControl(options, runner=runner))  # type: ignore[arg-type]
    try:
        agent.tick()
        beat = agent.heartbeat(clock.at)
        assert (beat.brightness_percent, beat.brightness_source) == (35, "sensor")  # overcast noon: 500 lux
        clock.at += timedelta(seconds=61)  # the next reading, a minute later
        agent.tick()
        beat = agent.heartbeat(clock.at)
        assert (beat.brightness_percent, beat.brightness_source) == (100, "plan")
        assert any("light sensor" in p and "not a lux value" in p for p in beat.problems)
    finally:
        agent.close()


def test_config_refuses_a_command_without_the_level(tmp_path: Path) -> None:
    config = tmp_path / "player.toml"
    config.write_text('[brightness]\ncommand = ["/usr/local/bin/set-led-brightness"]\n')
    with pytest.raises(ConfigError, match=r"brightness.command.*\{percent\}"):
        load_settings(config)
    config.write_text('[brightness]\ncommand = ["/usr/local/bin/set-led-brightness", "{percent}"]\n'
                      'sensor_command = ["/usr/local/bin/read-lux"]\nsensor_curve = [[0, 10], [20000, 100]]\n')
    settings = load_settings(config)
    assert settings.brightness.command[1] == "{percent}"
    assert settings.brightness.sensor_curve == ((0.0, 10), (20000.0, 100))


def test_status_names_the_level_and_its_source(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from player_agent.cli import app

    state_dir = boot(tmp_path)
    clock = Clock(tomorrow_at(23, 30))
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), Frames(), clock=clock)  # type: ignore[arg-type]
    try:
        agent.tick()
        agent._write_status(clock.at)
    finally:
        agent.close()
    config = tmp_path / "player.toml"
    config.write_text(f'state_dir = "{state_dir}"\noutput = "null"\n')
    result = CliRunner().invoke(app, ["status", "-c", str(config)])
    assert "brightness: 20 % (plan)" in result.output, result.output


def test_ticker_frames_are_dimmed_from_a_strip_dimmed_once(tmp_path: Path) -> None:
    from signage_core.manifest import LayoutKind

    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1")
    body = manifest("gate-1", 1, now=now_utc(), durations_ms=3_600_000, layout=LayoutKind.TICKER,
                    size=(480, 80), brightness=PLAN)
    (state_dir / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state_dir / "state.json").accept_manifest(1)
    clock = Clock(tomorrow_at(23))
    output = Frames()
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), output, clock=clock)  # type: ignore[arg-type]
    try:
        undimmed = []
        for _ in range(3):
            clock.at += timedelta(milliseconds=700)  # the strip has scrolled in: text on screen
            agent.tick()
            undimmed.append(agent.current.image if agent.current else None)
            assert agent.current is not None and agent.current.image is not None
            assert agent.current.image.getbbox() is not None
            assert same(output.frames[-1], dim(agent.current.image, 20)), "each frame at the night level"
        assert len(agent.renders._dimmed) == 1, "one dimmed strip, not one per frame"
        # Proof of play keeps the item's first frame as drawn, not as dimmed.
        assert agent.current.frame_hash is not None and undimmed[0] is not None
        assert agent.current.frame_hash() == frame_hash(undimmed[0]) != frame_hash(output.frames[0])
    finally:
        agent.close()
