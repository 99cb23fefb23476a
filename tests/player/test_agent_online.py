"""The player against a real Mosquitto and a test-side server: updates, refusals, alerts, play logs, commands."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from signage_core import protocol as p
from signage_core.manifest import Slide
from signage_core.render import frame_hash
from signage_core.signing import EnvelopeKind, SigningKey, sign_envelope
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import ManagedMosquitto
from signage_server.transport.chunks import ChunkServer
from tests.broker_fixtures import RawClient, unique_id
from tests.player.agent_world import (
    CAPTIONS,
    SERVER_KEY,
    Running,
    Store,
    alert,
    asset_of,
    enrol_state,
    manifest,
    now_utc,
    png_bytes,
    settings_for,
    signed,
    start_agent,
)
from tests.polling import eventually

pytestmark = pytest.mark.broker


class Server:
    """The test's server: publishes signed things as the server account and listens to screens."""

    def __init__(self, params: p.BrokerParams) -> None:
        self.raw = RawClient(params)
        assert not self.raw.connect().is_failure
        for kind in (p.TopicKind.HEARTBEAT, p.TopicKind.PLAYLOG, p.TopicKind.ALERT_ACK, p.TopicKind.SCREENSHOT):
            assert self.raw.subscribe(p.all_screens_filter(kind))
        self.messages: list[tuple[float, str, bytes]] = []
        self.ack_playlogs = True
        self._lock = threading.Lock()
        self.raw.client.on_message = self._on_message

    def _on_message(self, c: object, u: object, msg: object) -> None:
        topic, payload = msg.topic, bytes(msg.payload)  # type: ignore[attr-defined]
        with self._lock:
            self.messages.append((time.monotonic(), topic, payload))
        if self.ack_playlogs and topic.endswith("/playlog"):
            batch = p.decode(p.PlayLogBatch, payload)
            ack = p.PlayLogAck(record_ids=[r.record_id for r in batch.records])
            self.raw.client.publish(p.playlog_ack_topic(batch.screen_id), p.encode(ack), qos=1)

    def of(self, screen_id: str, kind: p.TopicKind) -> list[tuple[float, bytes]]:
        topic = p.screen_topic(screen_id, kind)
        with self._lock:
            return [(t, m) for t, tp, m in self.messages if tp == topic]

    def heartbeats(self, screen_id: str) -> list[p.Heartbeat]:
        return [p.decode(p.Heartbeat, m) for _, m in self.of(screen_id, p.TopicKind.HEARTBEAT)]

    def publish_manifest(self, screen_id: str, payload: bytes) -> None:
        self.raw.publish(p.manifest_topic(screen_id), payload, retain=True)

    def close(self) -> None:
        self.raw.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("assets"))


@pytest.fixture(scope="module")
def chunk_server(broker: ManagedMosquitto, store: Store) -> Iterator[ChunkServer]:
    with ChunkServer(broker.params(), may_fetch=store.may_fetch, path_for=store.path_for, on_reply=store.record) as cs:
        yield cs


@pytest.fixture(scope="module")
def server(broker: ManagedMosquitto) -> Iterator[Server]:
    s = Server(broker.params())
    yield s
    s.close()


@dataclass
class Screen:
    screen_id: str
    state_dir: Path
    group: str


@pytest.fixture
def screen(broker: ManagedMosquitto, accounts: DynsecAccounts, chunk_server: ChunkServer, tmp_path: Path) -> Screen:
    screen_id = unique_id()
    group = unique_id("grp")
    creds = accounts.add_screen(screen_id, groups=[group])
    enrol_state(tmp_path / "state", screen_id, broker_url=broker.url(), username=creds.username,
                password=creds.password, groups=(group,))
    return Screen(screen_id, tmp_path / "state", group)


def _run(screen: Screen, **settings: object) -> Running:
    running = start_agent(settings_for(screen.state_dir, **settings))
    assert running.agent.link is not None or eventually(lambda: running.agent.link is not None, 2, "link") is None
    eventually(lambda: running.agent.link is not None and running.agent.link.connected.is_set(), 10, "connect")
    return running


def test_manifest_with_asset_switches_when_complete_and_is_reported(screen: Screen, server: Server, store: Store) -> None:
    data = png_bytes((0, 90, 200))
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    slide = Slide(id="pic", captions=dict(CAPTIONS), image=sha)
    body = manifest(screen.screen_id, 5, now=now_utc(), slides=[slide], assets=[asset_of(data)])
    running = _run(screen)
    try:
        server.publish_manifest(screen.screen_id, signed(body))
        eventually(lambda: running.agent.manifest is not None, 10, "manifest active")
        agent = running.agent
        assert agent.cache.has(sha)
        assert (screen.state_dir / "manifest.json").exists()
        eventually(lambda: any(h.manifest_version == "5" and h.frame_hash for h in server.heartbeats(screen.screen_id)),
                 5, "heartbeat naming v5")
        beat = next(h for h in reversed(server.heartbeats(screen.screen_id)) if h.manifest_version == "5")
        assert beat.current_slide_id == "pic" and beat.current_language == "vi"
        assert beat.frame_hash == frame_hash(running.shown[-1][1])
        assert beat.stale is False and beat.uptime_s >= 0

        # Assets leave the cache once neither the active nor the previous manifest uses them.
        for version in (6, 7):
            server.publish_manifest(screen.screen_id, signed(manifest(screen.screen_id, version, now=now_utc())))
            eventually(lambda v=version: agent.manifest is not None and agent.manifest.version == v,  # type: ignore[misc]
                     10, f"v{version} active")
            assert agent.cache.has(sha) is (version == 6)
    finally:
        running.stop()


def test_refusals_are_reported_and_change_nothing_even_after_restart(screen: Screen, server: Server) -> None:
    now = now_utc()
    running = _run(screen)
    try:
        # An hour-long item: "nothing changed on screen" must not see a minute's item boundary under load.
        server.publish_manifest(screen.screen_id, signed(manifest(screen.screen_id, 7, now=now, durations_ms=3_600_000)))
        eventually(lambda: running.agent.manifest is not None, 10, "v7 active")
        shown_before = running.agent.current.identity if running.agent.current else None

        tampered = signed(manifest(screen.screen_id, 8, now=now)).replace(b"International", b"Internat1onal")
        other = signed(manifest("someone-else", 9, now=now))
        old = signed(manifest(screen.screen_id, 6, now=now))
        forged = signed(manifest(screen.screen_id, 10, now=now), SigningKey.generate())
        for payload, reason in ((tampered, "bad_signature"), (other, "wrong_screen"), (old, "stale_version"),
                                (forged, "unknown_key")):
            server.publish_manifest(screen.screen_id, payload)
            eventually(lambda r=reason: running.agent.last_error is not None and r in running.agent.last_error,  # type: ignore[misc]
                     5, f"refusal {reason}")
            assert running.agent.manifest is not None and running.agent.manifest.version == 7
        eventually(lambda: any(h.last_error and "unknown_key" in h.last_error for h in server.heartbeats(screen.screen_id)),
                 5, "refusal in heartbeat")
        assert running.agent.current is not None and running.agent.current.identity == shown_before
    finally:
        running.stop()

    # After a restart the replayed old version (retained on the broker) is still refused.
    server.publish_manifest(screen.screen_id, old)
    again = _run(screen)
    try:
        eventually(lambda: again.agent.last_error is not None and "stale_version" in again.agent.last_error, 5,
                 "replay refused after restart")
        assert again.agent.manifest is not None and again.agent.manifest.version == 7
    finally:
        again.stop()
        server.publish_manifest(screen.screen_id, b"")


def test_damaged_manifest_file_the_retained_copy_puts_the_screen_back_with_its_picture(
    screen: Screen, server: Server, store: Store
) -> None:
    data = png_bytes((160, 60, 0))
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    slide = Slide(id="pic", captions=dict(CAPTIONS), image=sha)
    payload = signed(manifest(screen.screen_id, 4, now=now_utc(), slides=[slide], assets=[asset_of(data)]))
    server.publish_manifest(screen.screen_id, payload)
    running = _run(screen)
    try:
        eventually(lambda: running.agent.manifest is not None, 10, "v4 active")
    finally:
        running.stop()
    for name in ("manifest.json", "manifest.json.last-good"):
        (screen.state_dir / name).write_bytes(b'{"kind": "manifest", "bo')  # a torn sector
    (screen.state_dir / "cache" / "objects" / sha[:2] / sha).write_bytes(b"rot")
    again = _run(screen)
    try:
        eventually(lambda: again.agent.manifest is not None and again.agent.manifest.version == 4, 10,
                 "the retained v4 accepted again")
        eventually(lambda: again.agent.current is not None and again.agent.current.scene is not None
                 and again.agent.current.scene.image is not None, 10, "its picture fetched again")
        eventually(lambda: any(h.manifest_version == "4" for h in server.heartbeats(screen.screen_id)), 5, "beat")
        assert again.agent.last_error is None or "stale_version" not in again.agent.last_error
    finally:
        again.stop()
        server.publish_manifest(screen.screen_id, b"")


def test_tampered_asset_is_refused_and_playback_unchanged(screen: Screen, server: Server, store: Store) -> None:
    now = now_utc()
    running = _run(screen)
    try:
        server.publish_manifest(screen.screen_id, signed(manifest(screen.screen_id, 2, now=now)))
        eventually(lambda: running.agent.manifest is not None, 10, "v2 active")
        data = png_bytes((10, 200, 10))
        sha = store.add(data, serve=png_bytes((200, 10, 10)))  # the server's copy was swapped
        store.allowed[screen.screen_id] = {sha}
        body = manifest(screen.screen_id, 3, now=now, slides=[Slide(id="x", captions=dict(CAPTIONS), image=sha)],
                        assets=[asset_of(data)])
        server.publish_manifest(screen.screen_id, signed(body))
        eventually(lambda: running.agent.last_error is not None and "hash check" in running.agent.last_error, 15,
                 "tampered asset refused")
        assert running.agent.manifest is not None and running.agent.manifest.version == 2
        assert not running.agent.cache.has(sha)
    finally:
        running.stop()
        server.publish_manifest(screen.screen_id, b"")


def test_alert_within_1s_acked_kept_on_redelivery_gone_at_expiry(screen: Screen, server: Server) -> None:
    now = now_utc()
    running = _run(screen)
    try:
        server.publish_manifest(screen.screen_id, signed(manifest(screen.screen_id, 1, now=now)))
        eventually(lambda: running.agent.current is not None and running.agent.current.slide_id == "s1"
                 and running.agent.current.frame_id is not None, 10, "manifest on screen")
        before = len(running.shown)
        version = int(time.time() * 1000)
        payload = alert([screen.screen_id, "other-screen"], "a1", version, now=now_utc(), ttl_s=4)
        sent = time.monotonic()
        server.raw.publish(p.group_alert_topic(screen.group), payload, retain=True)
        eventually(lambda: running.agent.current is not None and running.agent.current.alert_id == "a1", 1.0,
                 "alert on screen")
        eventually(lambda: server.of(screen.screen_id, p.TopicKind.ALERT_ACK), 2, "alert ack")
        shown_at, alert_frame = running.shown[before]
        assert shown_at - sent < 1.0
        ack = p.decode(p.AlertAck, server.of(screen.screen_id, p.TopicKind.ALERT_ACK)[0][1])
        assert ack.alert_id == "a1" and ack.frame_hash == frame_hash(alert_frame)

        # Reconnect: the retained alert comes again and must keep showing, not be refused.
        link = running.agent.link
        assert link is not None
        handled = threading.Event()
        # Queued behind the agent's own handling of the same message: set once the agent has dealt with it.
        link.on(p.TopicKind.GROUP_ALERT, lambda _t, _p: running.agent._post(handled.set))
        link.drop_connection()
        assert handled.wait(5), "retained alert not delivered again after the reconnect"
        assert running.agent.current is not None and running.agent.current.alert_id == "a1"
        assert running.agent.last_error is None or "alert" not in running.agent.last_error

        eventually(lambda: running.agent.current is not None and running.agent.current.alert_id is None, 5,
                 "alert gone at expiry")
        assert running.agent.current.slide_id == "s1"
    finally:
        running.stop()
        server.raw.publish(p.group_alert_topic(screen.group), b"", retain=True)


def test_signed_withdrawal_removes_alert_and_play_log_is_acked(screen: Screen, server: Server) -> None:
    now = now_utc()
    running = _run(screen)
    try:
        server.publish_manifest(screen.screen_id, signed(manifest(screen.screen_id, 1, now=now, durations_ms=1000)))
        eventually(lambda: running.agent.manifest is not None, 10, "manifest active")
        version = int(time.time() * 1000)
        server.raw.publish(p.group_alert_topic(screen.group), alert([screen.screen_id], "w1", version, now=now_utc()))
        eventually(lambda: running.agent.alerts, 2, "alert shown")
        server.raw.publish(p.group_alert_topic(screen.group),
                           alert([screen.screen_id], "w1", version + 1, now=now_utc(), action="withdraw"))
        eventually(lambda: not running.agent.alerts, 2, "alert withdrawn")
        # Items of one second: several play records reach the server and are acknowledged.
        eventually(lambda: len(server.of(screen.screen_id, p.TopicKind.PLAYLOG)) >= 2, 6, "play logs")
        eventually(lambda: running.agent.journal.pending_count() == 0, 3, "journal drained by acks")
        records = [r for _, m in server.of(screen.screen_id, p.TopicKind.PLAYLOG)
                   for r in p.decode(p.PlayLogBatch, m).records]
        assert all(r.slide_id == "s1" and r.frame_hash for r in records)
        # A stacked screen shows its three languages at once: each is credited the whole play.
        for r in records:
            assert r.segments is not None and {s.language.value for s in r.segments} == {"vi", "en", "km"}
        # Reports count airtime per campaign: each record names the playlist its item came from.
        assert {r.playlist_id for r in records} == {"p"}
    finally:
        running.stop()


def test_commands_identify_screenshot_and_replay_refused(screen: Screen, server: Server) -> None:
    now = now_utc()
    running = _run(screen)

    def command(kind: p.CommandKind, version: int) -> bytes:
        body = p.CommandBody(command_id=f"c{version}", screen_id=screen.screen_id, kind=kind, version=version,
                             issued_at=now_utc(), expires_at=now_utc() + timedelta(minutes=5))
        return sign_envelope(EnvelopeKind.COMMAND, body, SERVER_KEY).to_json()

    try:
        server.publish_manifest(screen.screen_id, signed(manifest(screen.screen_id, 1, now=now)))
        eventually(lambda: running.agent.manifest is not None, 10, "manifest active")
        topic = p.command_topic(screen.screen_id)
        server.raw.publish(topic, command(p.CommandKind.IDENTIFY, 1))
        eventually(lambda: running.agent.current is not None and running.agent.current.identity[0] == "identify", 2,
                 "identify card")
        server.raw.publish(topic, command(p.CommandKind.SCREENSHOT, 2))
        eventually(lambda: server.of(screen.screen_id, p.TopicKind.SCREENSHOT), 3, "screenshot")
        header, jpeg = p.decode_frame(p.ScreenshotHeader, server.of(screen.screen_id, p.TopicKind.SCREENSHOT)[0][1])
        assert header.command_id == "c2" and jpeg[:2] == b"\xff\xd8"
        server.raw.publish(topic, command(p.CommandKind.SCREENSHOT, 2))  # replay
        eventually(lambda: running.agent.last_error is not None and "command refused" in running.agent.last_error, 2,
                 "replayed command refused")
        assert len(server.of(screen.screen_id, p.TopicKind.SCREENSHOT)) == 1
        assert running.agent.clock_offset_s is not None and abs(running.agent.clock_offset_s) < 5
    finally:
        running.stop()


@pytest.mark.timeout(90)
def test_broker_killed_mid_download_resumes_and_switches_only_when_complete(
    fresh_broker: ManagedMosquitto, tmp_path: Path
) -> None:
    store = Store(tmp_path / "assets")
    store.root.mkdir()
    screen_id = unique_id()
    with DynsecAccounts(fresh_broker.params()) as acc:
        creds = acc.add_screen(screen_id)
    enrol_state(tmp_path / "state", screen_id, broker_url=fresh_broker.url(), username=creds.username,
                password=creds.password)
    data = os.urandom(3 * 1024 * 1024)
    sha = store.add(data)
    store.allowed[screen_id] = {sha}
    store.delay_s = 0.05
    killed = threading.Event()
    running_box: list[Running] = []

    def kill_midway(header: p.ChunkHeader) -> None:
        if header.sha256 == sha and header.offset >= 1024 * 1024 and not killed.is_set():
            killed.set()
            agent = running_box[0].agent
            assert agent.manifest is not None and agent.manifest.version == 1, "switched before the download ended"
            pid = fresh_broker.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

    store.on_serve.append(kill_midway)
    now = now_utc()
    with ChunkServer(fresh_broker.params(), may_fetch=store.may_fetch, path_for=store.path_for,
                     on_reply=store.record) as _cs:
        srv = Server(fresh_broker.params())
        try:
            screen = Screen(screen_id, tmp_path / "state", "none")
            running = _run(screen)
            running_box.append(running)
            try:
                srv.publish_manifest(screen_id, signed(manifest(screen_id, 1, now=now)))
                eventually(lambda: running.agent.manifest is not None, 10, "v1 active")
                body = manifest(screen_id, 2, now=now, slides=[Slide(id="big", captions=dict(CAPTIONS), image=sha)],
                                assets=[asset_of(data)])
                srv.publish_manifest(screen_id, signed(body))
                eventually(killed.is_set, 20, "broker killed mid-download")
                eventually(lambda: running.agent.manifest is not None and running.agent.manifest.version == 2, 60,
                         "v2 active after the broker came back")
                assert running.agent.cache.read_verified(sha) == data
                offsets = [h.offset for h in store.sent() if h.sha256 == sha and h.error is None]
                assert max(offsets) + 1 > 1024 * 1024
                assert running.agent.link is not None and running.agent.link.connections >= 2
            finally:
                running.stop()
        finally:
            srv.close()


def test_periodic_thumbnail_and_clear_cache_command(screen: Screen, server: Server, store: Store) -> None:
    import io

    from PIL import Image

    from player_agent.config import ScreenshotOptions

    data = png_bytes((120, 40, 0))
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    body = manifest(screen.screen_id, 1, now=now_utc(), slides=[Slide(id="pic", captions=dict(CAPTIONS), image=sha)],
                    assets=[asset_of(data)])
    running = _run(screen, screenshot=ScreenshotOptions(period_s=1, thumbnail_width=120))
    try:
        server.publish_manifest(screen.screen_id, signed(body))
        eventually(lambda: running.agent.manifest is not None, 10, "manifest active")
        eventually(lambda: any(p.decode_frame(p.ScreenshotHeader, m)[0].command_id == "thumbnail"
                             for _, m in server.of(screen.screen_id, p.TopicKind.SCREENSHOT)), 4, "thumbnail")
        _, jpeg = p.decode_frame(p.ScreenshotHeader, server.of(screen.screen_id, p.TopicKind.SCREENSHOT)[-1][1])
        with Image.open(io.BytesIO(jpeg)) as thumb:
            assert thumb.width == 120

        stray = b"left over from an old campaign"
        stray_sha = hashlib.sha256(stray).hexdigest()
        running.agent.cache.put_bytes(stray_sha, stray)
        command = p.CommandBody(command_id="cc1", screen_id=screen.screen_id, kind=p.CommandKind.CLEAR_CACHE,
                                version=1, issued_at=now_utc(), expires_at=now_utc() + timedelta(minutes=5))
        server.raw.publish(p.command_topic(screen.screen_id),
                           sign_envelope(EnvelopeKind.COMMAND, command, SERVER_KEY).to_json())
        eventually(lambda: not running.agent.cache.has(stray_sha), 3, "stray asset cleared")
        assert running.agent.cache.has(sha), "clear cache dropped an asset the screen is showing"
    finally:
        running.stop()
        server.publish_manifest(screen.screen_id, b"")
