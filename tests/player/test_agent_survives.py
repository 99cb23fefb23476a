"""The player survives its own files: damaged state, trust, identity or manifest never darken the screen."""

from __future__ import annotations

import errno
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from player_agent.agent import MANIFEST_FILE, Agent
from player_agent.cli import app
from player_agent.enrol import read_trust
from player_agent.fsutil import write_kept
from player_agent.output.null import NullOutput
from player_agent.scenes import ZonedScene
from player_agent.state import StateStore
from player_agent.transport import AssetFetchError
from signage_core.manifest import Slide
from signage_core.zones import ZonesSpec, ZoneTemplate
from tests.player.agent_world import (
    CAPTIONS,
    SERVER_KEY,
    Clock,
    alert,
    asset_of,
    enrol_state,
    manifest,
    now_utc,
    png_bytes,
    settings_for,
    signed,
)
from tests.polling import eventually


def boot(tmp_path: Path, version: int = 3, *, groups: tuple[str, ...] = ("loc-ninh",)) -> tuple[Path, bytes]:
    """An enrolled player that accepted manifest `version`, as it is after months of play."""
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1", groups=groups)
    payload = signed(manifest("gate-1", version, now=now_utc()))
    write_kept(state_dir / MANIFEST_FILE, payload, mode=0o644)  # as the player stores what it accepts
    StateStore(state_dir / "state.json").accept_manifest(version)
    return state_dir, payload


def start(state_dir: Path, clock: Clock | None = None) -> Agent:
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), NullOutput(), clock=clock or Clock(now_utc()))
    agent.tick()
    return agent


def deliver(agent: Agent, payload: bytes) -> None:
    """The retained manifest arriving from the broker, handled the way the main loop handles it."""
    agent._on_manifest(payload)
    worker = agent._worker
    if isinstance(worker, threading.Thread):
        worker.join(5)
    agent._wait_until(agent.clock())
    agent.tick()


def damage(path: Path, *, copy_too: bool = False) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] + b"\x00garbage")
    if copy_too:
        path.with_name(path.name + ".last-good").write_bytes(b"{not json")


def showing(agent: Agent) -> object:
    return agent.current.identity[0] if agent.current is not None else None


@pytest.mark.parametrize("name", ["state.json", "trust.json"])
def test_damaged_state_or_trust_file_keeps_playing_and_is_reported(tmp_path: Path, name: str) -> None:
    state_dir, _ = boot(tmp_path)
    damage(state_dir / name)
    agent = start(state_dir)
    try:
        assert showing(agent) == "item" and agent.manifest is not None and agent.manifest.version == 3
        beat = agent.heartbeat(agent.clock())
        assert any(name in p and "last-good" in p for p in beat.problems), beat.problems
        status = json.loads((state_dir / "status.json").read_text())
        assert any(name in p for p in status["problems"])
        assert json.loads((state_dir / name).read_text())  # repaired from the copy
        assert (state_dir / f"{name}.damaged").exists()  # kept for a technician
    finally:
        agent.close()


def test_state_and_its_copy_damaged_rebuilds_offline_and_keeps_playing(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path)
    damage(state_dir / "state.json", copy_too=True)
    damaged = (state_dir / "state.json").read_bytes()
    agent = start(state_dir)
    try:
        assert showing(agent) == "item" and agent.manifest is not None and agent.manifest.version == 3
        assert agent.state.state.manifest_version == 3  # from the verified manifest: no rollback below it
        assert agent.state.state.broker_password is None and agent._make_link() is None
        problem = agent.heartbeat(agent.clock()).problems[0]
        assert "state.json" in problem and "enroll" in problem
        assert (state_dir / "state.json.damaged").read_bytes() == damaged  # kept for a technician
    finally:
        agent.close()


def test_trust_and_its_copy_damaged_rebuilt_from_the_pinned_keys(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path)
    damage(state_dir / "trust.json", copy_too=True)
    agent = start(state_dir)
    try:
        assert showing(agent) == "item" and agent.manifest is not None
        assert any("pinned in state.json" in p for p in agent.problems.values())
    finally:
        agent.close()


@pytest.mark.parametrize("copy_too", [False, True])
def test_damaged_manifest_retained_copy_of_the_recorded_version_is_accepted_again(
    tmp_path: Path, copy_too: bool
) -> None:
    state_dir, payload = boot(tmp_path)
    damage(state_dir / MANIFEST_FILE, copy_too=copy_too)
    if copy_too:
        agent = start(state_dir)
        try:
            assert showing(agent) == "waiting"
            assert any("manifest.json" in p and "v3" in p for p in agent.problems.values())
            deliver(agent, payload)  # the server's retained v3
            assert showing(agent) == "item" and agent.manifest is not None and agent.manifest.version == 3
            assert not agent.problems and agent.state.state.manifest_version == 3
            assert (state_dir / MANIFEST_FILE).read_bytes() == payload
        finally:
            agent.close()
    else:
        agent = start(state_dir)
        try:
            assert showing(agent) == "item"  # the last-good copy
        finally:
            agent.close()


def test_stored_older_manifest_is_refused_at_start_and_the_recorded_one_accepted_again(tmp_path: Path) -> None:
    state_dir, payload = boot(tmp_path, version=5)
    older = signed(manifest("gate-1", 4, now=now_utc()))
    for path in (state_dir / MANIFEST_FILE, state_dir / "manifest.json.last-good"):
        path.write_bytes(older)  # validly signed, but a rollback
    agent = start(state_dir)
    try:
        assert agent.manifest is None and showing(agent) == "waiting"
        assert any("older than the recorded v5" in p for p in agent.problems.values())
        deliver(agent, older)
        assert agent.manifest is None  # still refused when it comes over the network
        deliver(agent, payload)
        assert agent.manifest is not None and agent.manifest.version == 5 and showing(agent) == "item"
        deliver(agent, payload)  # re-delivered: still v5, no error
        assert agent.manifest.version == 5
    finally:
        agent.close()


def test_damaged_identity_is_rebuilt_with_its_alert_groups(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path, groups=("loc-ninh", "hoa-lu"))
    damage(state_dir / "identity.json", copy_too=True)
    agent = start(state_dir)
    try:
        assert agent.identity is not None and agent.identity.groups == ("loc-ninh", "hoa-lu")
        assert showing(agent) == "item"
        assert any("identity.json" in p and "hoa-lu" in p for p in agent.problems.values())
    finally:
        agent.close()
    again = start(state_dir)  # rewritten: the next start has nothing to report
    try:
        assert again.identity is not None and again.identity.groups == ("loc-ninh", "hoa-lu")
        assert not again.problems
    finally:
        again.close()


def test_identity_without_a_kept_copy_of_its_groups_says_re_enrol(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path)
    data = json.loads((state_dir / "state.json").read_text())
    data["groups"] = None  # enrolled before the groups were kept twice
    for name in ("state.json", "state.json.last-good"):
        (state_dir / name).write_text(json.dumps(data))
    damage(state_dir / "identity.json", copy_too=True)
    agent = start(state_dir)
    try:
        assert showing(agent) == "item"
        assert any("groups are unknown" in p and "re-enrol" in p for p in agent.problems.values())
    finally:
        agent.close()


def test_status_command_reports_a_damaged_state_file_instead_of_failing(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path)
    config = tmp_path / "player.toml"
    config.write_text(f'state_dir = "{state_dir}"\noutput = "null"\n', encoding="utf-8")
    damage(state_dir / "state.json")
    result = CliRunner().invoke(app, ["status", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "manifest version: 3" in result.output
    assert "state.json is damaged" in result.output and "last-good" in result.output


class FakeFetcher:
    """The asset fetcher as the agent sees it: fills the partial file, or fails as told."""

    def __init__(self, assets: dict[str, bytes], failures: list[Exception] | None = None) -> None:
        self.assets = assets
        self.failures = list(failures or [])
        self.calls: list[str] = []

    def fetch(self, sha: str, partial: Path, *, timeout_s: float, expected_size: int | None = None) -> int:
        self.calls.append(sha)
        if self.failures:
            raise self.failures.pop(0)
        partial.write_bytes(self.assets[sha])
        return len(self.assets[sha])


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    import player_agent.agent as agent_module

    monkeypatch.setattr(agent_module, "FETCH_RETRY_S", 0.01)
    monkeypatch.setattr(agent_module, "FETCH_RETRY_CAP_S", 0.04)
    monkeypatch.setattr(agent_module, "SPACE_POLL_S", 0.01)


def pump_until(agent: Agent, predicate: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Run the main loop's queued work (what the worker handed back) until `predicate` holds."""

    def pump() -> None:
        agent._wait_until(agent.clock() + timedelta(milliseconds=20))
        agent.tick()

    eventually(predicate, timeout, what, step=pump,
               explain=lambda: f"problems: {agent.problems}, error: {agent.last_error}")


def picture_manifest(version: int, picture: bytes, zones: ZonesSpec | None = None) -> bytes:
    slide = Slide(id="s1", captions=dict(CAPTIONS), image=asset_of(picture).sha256)
    return signed(manifest("gate-1", version, now=now_utc(), slides=[slide], assets=[asset_of(picture)],
                           zones=zones))


def picture_shown(agent: Agent) -> bool:
    scene = None if agent.current is None else agent.current.scene
    main = scene.main if isinstance(scene, ZonedScene) else scene
    return main is not None and main.image is not None


@pytest.mark.parametrize("zones", [None, ZonesSpec(template=ZoneTemplate.MAIN_SIDE)], ids=["whole", "zoned"])
def test_corrupt_asset_of_the_active_manifest_is_fetched_again_with_back_off(
    tmp_path: Path, quick_retries: None, zones: ZonesSpec | None
) -> None:
    picture = png_bytes((200, 30, 30), (120, 60))
    sha = asset_of(picture).sha256
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1")
    write_kept(state_dir / MANIFEST_FILE, picture_manifest(1, picture, zones), mode=0o644)
    StateStore(state_dir / "state.json").accept_manifest(1)
    cached = state_dir / "cache" / "objects" / sha[:2] / sha
    cached.parent.mkdir(parents=True)
    cached.write_bytes(picture[:-7] + b"garbage")  # bit rot on the SD card
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600), NullOutput(), clock=Clock(now_utc()))
    fetcher = FakeFetcher({sha: picture}, failures=[AssetFetchError("timed out"), AssetFetchError("timed out")])
    agent.fetcher = fetcher  # type: ignore[assignment]
    try:
        agent.tick()
        assert agent.current is not None and agent.current.scene is not None
        assert not picture_shown(agent)  # plays without its picture meanwhile, never dark
        pump_until(agent, lambda: picture_shown(agent), "the picture back on screen")
        assert "internal error" not in (agent.last_error or "")
        assert fetcher.calls == [sha, sha, sha]  # two failures, retried after back-off, then fetched
        assert agent.cache.verify(sha)
        assert agent.current.frame_id is not None  # redrawn with it, not at the next item
    finally:
        agent.close()


def test_download_waits_for_free_space_reports_it_and_goes_on_when_space_appears(
    tmp_path: Path, quick_retries: None
) -> None:
    state_dir, _ = boot(tmp_path, version=1)
    picture = png_bytes((10, 120, 10), (300, 200))
    sha = asset_of(picture).sha256
    agent = start(state_dir)
    fetcher = FakeFetcher({sha: picture})
    agent.fetcher = fetcher  # type: ignore[assignment]
    free = [3_000_000]
    agent._free_bytes = lambda: free[0]
    try:
        agent._on_manifest(picture_manifest(2, picture))
        pump_until(agent, lambda: "download" in agent.problems, "the wait reported")
        assert agent.problems["download"] == "manifest v2 waits for 6 MB of free disk space"  # 8 MiB headroom
        assert agent.heartbeat(agent.clock()).problems == ("manifest v2 waits for 6 MB of free disk space",)
        assert fetcher.calls == [] and agent.manifest is not None and agent.manifest.version == 1
        free[0] = 500_000_000
        pump_until(agent, lambda: agent.manifest is not None and agent.manifest.version == 2, "v2 active")
        assert fetcher.calls == [sha] and not agent.problems
    finally:
        agent.close()


def test_disk_full_during_a_download_does_not_kill_it_and_it_resumes_when_space_is_freed(
    tmp_path: Path, quick_retries: None
) -> None:
    state_dir, _ = boot(tmp_path, version=1)
    picture = png_bytes((10, 10, 160), (80, 40))
    sha = asset_of(picture).sha256
    agent = start(state_dir)
    fetcher = FakeFetcher({sha: picture}, failures=[OSError(errno.ENOSPC, "No space left on device")])
    agent.fetcher = fetcher  # type: ignore[assignment]
    free = [400_000_000]  # the estimate says it fits; the disk (quota, reserved blocks) says no
    agent._free_bytes = lambda: free[0]
    try:
        agent._on_manifest(picture_manifest(2, picture))
        pump_until(agent, lambda: "download" in agent.problems, "the full disk reported")
        assert agent.problems["download"] == "manifest v2 waits for 1 MB of free disk space"
        assert agent._worker is not None and agent._worker.is_alive()  # waiting, not dead
        assert fetcher.calls == [sha] and agent.manifest is not None and agent.manifest.version == 1
        free[0] += 50_000_000  # the technician cleared space
        pump_until(agent, lambda: agent.manifest is not None and agent.manifest.version == 2, "v2 active")
        assert fetcher.calls == [sha, sha] and not agent.problems
    finally:
        agent.close()


def test_manifest_not_yet_valid_by_a_slow_clock_is_held_and_accepted_once_the_clock_is_right(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path, version=1)
    real = now_utc()
    clock = Clock(real - timedelta(hours=3))  # the RTC battery is flat; NTP has not answered yet
    agent = start(state_dir, clock)
    try:
        deliver(agent, signed(manifest("gate-1", 2, now=real)))
        assert agent.manifest is not None and agent.manifest.version == 1
        assert any("v2 is not valid yet" in p for p in agent.heartbeat(clock.at).problems)
        clock.at += timedelta(hours=1)
        agent.tick()
        assert agent.manifest.version == 1  # still too early: kept, not dropped
        clock.at = real  # NTP answered
        agent.tick()
        pump_until(agent, lambda: agent.manifest is not None and agent.manifest.version == 2, "v2 active")
        assert not agent.problems and agent.state.state.manifest_version == 2
    finally:
        agent.close()


def test_damaged_alerts_file_the_retained_alert_is_shown_again(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path)
    now = now_utc()
    urgent = alert(["gate-1"], "closure-1", 7, now=now, ttl_s=600)
    agent = start(state_dir, Clock(now))
    try:
        agent._on_alert(urgent)
        agent.tick()
        assert showing(agent) == "alert"
    finally:
        agent.close()
    damage(state_dir / "alerts.json", copy_too=True)
    again = start(state_dir, Clock(now + timedelta(seconds=5)))
    try:
        assert showing(again) == "item" and any("alerts.json" in p for p in again.problems.values())
        again._on_alert(urgent)  # retained on the group topic: delivered again on connect
        again.tick()
        assert showing(again) == "alert" and not again.problems
        again._on_alert(alert(["gate-1"], "closure-0", 6, now=now, ttl_s=600))
        assert "closure-0" not in again.alerts  # an older one is still a replay
    finally:
        again.close()


def test_identity_file_deleted_altogether_is_rebuilt_too(tmp_path: Path) -> None:
    state_dir, _ = boot(tmp_path, groups=("bu-dop",))
    for name in ("identity.json", "identity.json.last-good"):
        (state_dir / name).unlink()
    agent = start(state_dir)
    try:
        assert agent.identity is not None and agent.identity.groups == ("bu-dop",)
        assert any("identity.json is missing" in p for p in agent.problems.values())
    finally:
        agent.close()


def test_trust_rebuilt_from_pinned_keys_gets_its_retirements_back_from_the_key_chain(tmp_path: Path) -> None:
    from signage_core.protocol import KeyHandoverChain, encode
    from signage_core.signing import SigningKey, make_key_handover

    state_dir, _ = boot(tmp_path)
    now = now_utc()
    new_key = SigningKey.generate()
    handover = make_key_handover(SERVER_KEY, new_key.public_key, issued_at=now,
                                 old_key_valid_until=now + timedelta(hours=1))
    chain = encode(KeyHandoverChain(handovers=[handover.model_dump(mode="json")]))
    agent = start(state_dir, Clock(now))
    try:
        agent._on_key_chain(chain)
        assert agent.trust.keys[SERVER_KEY.key_id].not_after == now + timedelta(hours=1)
    finally:
        agent.close()
    damage(state_dir / "trust.json", copy_too=True)
    later = Clock(now + timedelta(minutes=5))
    again = start(state_dir, later)
    try:
        assert again.trust.keys[SERVER_KEY.key_id].not_after is None  # rebuilt: the grace end is not pinned
        again._on_key_chain(chain)  # retained: delivered on every connect
        assert again.trust.keys[SERVER_KEY.key_id].not_after == now + timedelta(hours=1)
        assert SERVER_KEY.key_id in again.trust.retired
        assert read_trust(state_dir).value == again.trust  # and kept
    finally:
        again.close()
