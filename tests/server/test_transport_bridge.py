"""Regional brokers for real: two Mosquittos and a bridge, a player on the regional side, a regional restart."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from player_agent.enrol import EnrolAnswer, apply_enrolment
from signage_core.manifest import verify_manifest
from signage_core.protocol import (
    AlertAck,
    AssetRequest,
    ChunkHeader,
    Heartbeat,
    PlayLogAck,
    PlayLogBatch,
    PlayRecord,
    alert_ack_topic,
    asset_chunk_topic,
    asset_request_topic,
    decode,
    decode_frame,
    encode,
    group_alert_topic,
    heartbeat_topic,
    manifest_topic,
    parse_broker_url,
    playlog_ack_topic,
    playlog_topic,
)
from signage_core.signing import EnvelopeKind, PublicKey, TrustStore, verify_envelope
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from signage_server.transport.accounts import AccountError
from signage_server.transport.broker import ManagedMosquitto, free_port
from signage_server.transport.regions import regional_broker
from signage_server.transport.service import TransportService
from tests.broker_fixtures import RawClient, _require_mosquitto
from tests.player.agent_world import wait_for
from tests.server.conftest import TEST_SECRET
from tests.server.test_language_airtime_e2e import start_fast
from tests.server.test_transport_app import eventually, player
from tests.server.world import png, seed_world

pytestmark = pytest.mark.broker

REGION_SITE = "loc-ninh-hoa-lu"  # the world's site: its screens use the regional broker


@dataclass
class Bridged:
    http: TestClient
    who: dict[str, dict[str, str]]
    ids: dict[str, int]
    regional: ManagedMosquitto
    transport: TransportService


def _bridge_up(central: ManagedMosquitto, after: int = 0) -> bool:
    log = central.paths.log.read_text(encoding="utf-8", errors="replace")
    return log.count("as bridge-south ") > after


@pytest.fixture
def bridged(tmp_path: Path, password_hash: str) -> Iterator[Bridged]:
    _require_mosquitto()
    engine = make_engine(f"sqlite:///{tmp_path / 'signage.db'}")
    upgrade_to_head(engine)
    tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET,
                             now=datetime(2026, 1, 1, tzinfo=UTC), approve_slide=True)
    central_port, bridge_password = free_port(), secrets.token_urlsafe(24)
    # The regional broker as `signage-server regional-broker` runs it: its own dynsec, plus the bridge section.
    regional = regional_broker("south", tmp_path / "regional", central_host="127.0.0.1", central_port=central_port,
                               host="127.0.0.1", port=free_port(), bridge_password=bridge_password)
    regional.write_config()
    admin = regional.params()
    settings = Settings(data_dir=tmp_path / "var", secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_port=central_port, mqtt_bind_host="127.0.0.1", mqtt_regions={"south": {
                            "url": f"mqtt://127.0.0.1:{regional.port}", "username": admin.username,
                            "password": admin.password, "public_url": regional.url(), "sites": [REGION_SITE],
                            "bridge_password": bridge_password}})
    try:
        # The region is still down while the server starts (it must start anyway); started once the central
        # broker holds the bridge's account, its bridge connects at the first try.
        with TestClient(create_app(settings, engine=engine)) as http:
            transport: TransportService = http.app.state.transport  # type: ignore[attr-defined]
            assert transport.broker is not None
            regional.start()
            eventually(lambda: _bridge_up(transport.broker), timeout=20)  # type: ignore[arg-type]
            yield Bridged(http, {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}, ids, regional,
                          transport)
    finally:
        regional.stop()
        engine.dispose()


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _region(http: TestClient, name: str = "south") -> Any:
    """The region as /readyz reports it: answered from what is cached, fast even with the broker down."""
    started = time.monotonic()
    ready = _ok(http.get("/readyz"))
    assert time.monotonic() - started < 0.5 and ready["status"] == "ok"
    return ready["transport"]["regions"][name]


def _next_on(client: RawClient, topic: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        msg = client.receive(left)
        if msg is not None and msg.topic == topic and msg.payload:
            return msg
    raise AssertionError(f"nothing on {topic} within {timeout:.0f} s")


def _status(b: Bridged, screen_id: int) -> dict[str, Any]:
    return _ok(b.http.get(f"/api/v1/screens/{screen_id}/status", headers=b.who["operator"]))


def test_a_player_on_the_regional_broker_gets_everything_through_the_bridge_and_survives_its_restart(
        bridged: Bridged) -> None:
    b = bridged
    image = png(64, 32, (200, 30, 30))
    slide = _ok(b.http.post("/api/v1/slides", json={"name": f"br-{uuid.uuid4().hex[:6]}"}, headers=b.who["operator"]),
                201)
    _ok(b.http.put(f"/api/v1/slides/{slide['id']}/image", files={"file": ("gate.png", image, "image/png")},
                   headers=b.who["operator"]))
    _ok(b.http.put(f"/api/v1/slides/{slide['id']}/captions/vi", json={"text": "Cửa khẩu Hoa Lư", "submit": True},
                   headers=b.who["operator"]))
    playlist = _ok(b.http.post("/api/v1/playlists", json={"name": f"br-{uuid.uuid4().hex[:6]}", "items": [
        {"slide_id": slide["id"], "duration_s": 10}]}, headers=b.who["operator"]), 201)
    screen = _ok(b.http.post("/api/v1/screens", json={
        "site_id": b.ids["site"], "name": f"br-{uuid.uuid4().hex[:6]}", "width_px": 192, "height_px": 96,
        "pixel_pitch_mm": 5, "languages": ["vi"], "default_playlist_id": playlist["id"],
        "group_ids": [b.ids["group"]]}, headers=b.who["admin"]), 201)
    code = _ok(b.http.post(f"/api/v1/screens/{screen['id']}/enrolment-code", headers=b.who["admin"]), 201)["code"]
    answer = _ok(b.http.post("/api/v1/enrol", json={"code": code, "agent_version": "bridge"}))
    wire = answer["screen_id"]

    # The screen is sent to its region's broker, and its account lives there, not on the central one.
    assert answer["broker_url"] == b.regional.url()
    assert b.transport.accounts is not None and not b.transport.accounts.has_screen(wire)
    assert b.transport.regions["south"].has_screen(wire)
    trust = TrustStore.of(PublicKey.from_base64(answer["server_public_key"]))

    box = player(answer)
    try:
        for topic in (manifest_topic(wire), asset_chunk_topic(wire), playlog_ack_topic(wire),
                      *(group_alert_topic(g) for g in answer["groups"])):
            assert box.subscribe(topic)
        _ok(b.http.post(f"/api/v1/slides/{slide['id']}/captions/vi/approve", headers=b.who["approver"]))
        _ok(b.http.post(f"/api/v1/slides/{slide['id']}/approve", headers=b.who["approver"]))

        # Manifest: signed on the central broker, carried by the bridge, verified on the regional side.
        body = None
        for _ in range(20):
            msg = _next_on(box, manifest_topic(wire))
            body = verify_manifest(msg.payload, trust=trust, screen_id=wire, last_version=None, now=datetime.now(UTC))
            if body.assets:
                break
        assert body is not None and body.assets, "the approved slide's manifest never crossed the bridge"
        version = body.version

        # Chunks: the request goes out through the bridge, the chunk server answers through it.
        sha = next(iter(body.assets))
        box.publish(asset_request_topic(wire), encode(AssetRequest(request_id="br-0", sha256=sha, offset=0,
                                                                      length=1 << 20)))
        header, data = decode_frame(ChunkHeader, _next_on(box, asset_chunk_topic(wire)).payload)
        assert header.error is None and hashlib.sha256(data).hexdigest() == sha

        # Heartbeats and play records reach the server's database; the play-log ack comes back.
        box.publish(heartbeat_topic(wire), encode(Heartbeat(screen_id=wire, sent_at=datetime.now(UTC),
                                                               uptime_s=11.0, manifest_version=str(version))), qos=0)
        eventually(lambda: (_status(b, screen["id"])["heartbeat"] or {}).get("uptime_s") == 11.0, timeout=20)
        batch = PlayLogBatch(screen_id=wire, records=[PlayRecord(
            record_id="br1", slide_id=str(slide["id"]), language="vi", frame_hash="c" * 64,
            manifest_version=str(version), started_at=datetime.now(UTC), duration_ms=10_000)])
        box.publish(playlog_topic(wire), encode(batch))
        assert decode(PlayLogAck, _next_on(box, playlog_ack_topic(wire)).payload).record_ids == ["br1"]

        # An urgent alert to the screen's group reaches it; its ack is stored.
        templates = _ok(b.http.get("/api/v1/alert-templates", headers=b.who["approver"]))
        alert = _ok(b.http.post("/api/v1/alerts", headers=b.who["approver"], json={
            "template_id": next(t["id"] for t in templates if t["key"] == "border-closure"),
            "group_ids": [b.ids["group"]], "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}), 201)
        group_topic = group_alert_topic(f"g{b.ids['group']}")
        verified = verify_envelope(_next_on(box, group_topic).payload, trust=trust,
                                   expected_kind=EnvelopeKind.ALERT, screen_id=wire, last_version=None,
                                   now=datetime.now(UTC))
        assert verified.body["alert_id"] == str(alert["id"])
        box.publish(alert_ack_topic(wire), encode(AlertAck(alert_id=str(alert["id"]), frame_hash="d" * 64,
                                                              shown_at=datetime.now(UTC))))

        def acked() -> bool:
            targets = _ok(b.http.get(f"/api/v1/alerts/{alert['id']}", headers=b.who["operator"]))["targets"]
            return any(t["screen_id"] == screen["id"] and t["confirmed"] and t["frame_hash"] == "d" * 64
                       for t in targets)

        eventually(acked, timeout=20)
    finally:
        box.close()

    # The regional broker restarts having lost everything it retained (persistence wiped): the bridge
    # reconnects, subscribes again, and the central broker refills it; the player finds its manifest.
    central = b.transport.broker
    assert central is not None
    bridges_before = central.paths.log.read_text(encoding="utf-8", errors="replace").count("as bridge-south ")
    b.regional.stop()
    shutil.rmtree(b.regional.paths.persistence, ignore_errors=True)
    b.regional.start()
    eventually(lambda: _bridge_up(central, bridges_before), timeout=20)
    box = player(answer)
    try:
        assert box.subscribe(manifest_topic(wire))
        again = verify_manifest(_next_on(box, manifest_topic(wire)).payload, trust=trust, screen_id=wire,
                                last_version=None, now=datetime.now(UTC))
        assert again.version == version and again.assets == body.assets
        assert box.subscribe(group_alert_topic(f"g{b.ids['group']}"))
        assert verify_envelope(_next_on(box, group_topic).payload, trust=trust, expected_kind=EnvelopeKind.ALERT,
                               screen_id=wire, last_version=None, now=datetime.now(UTC)).body["action"] == "show"
        box.publish(heartbeat_topic(wire), encode(Heartbeat(screen_id=wire, sent_at=datetime.now(UTC),
                                                               uptime_s=99.0)), qos=0)
        eventually(lambda: (_status(b, screen["id"])["heartbeat"] or {}).get("uptime_s") == 99.0, timeout=20)
    finally:
        box.close()


def test_a_site_in_two_regions_or_a_short_bridge_password_is_refused_at_start(tmp_path: Path) -> None:
    region = {"url": "mqtt://127.0.0.1:1884", "username": "signage-server", "password": "x" * 20,
              "public_url": "mqtts://south.example:8883", "sites": [REGION_SITE], "bridge_password": "b" * 24}
    with pytest.raises(ValueError, match=f"site '{REGION_SITE}' is in regions 'south' and 'north'"):
        Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_regions={"south": region, "north": region})
    with pytest.raises(ValueError, match="bridge_password needs 16"):
        Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_regions={"south": {**region, "bridge_password": "short"}})
    with pytest.raises(ValueError, match="invalid region name"):
        Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_regions={"South Region": region})


def test_a_revocation_made_while_the_regional_broker_is_down_is_applied_when_it_returns(bridged: Bridged) -> None:
    b = bridged
    screen = _ok(b.http.post("/api/v1/screens", json={
        "site_id": b.ids["site"], "name": f"br-{uuid.uuid4().hex[:6]}", "width_px": 192, "height_px": 96,
        "pixel_pitch_mm": 10, "languages": ["vi"]}, headers=b.who["admin"]), 201)
    code = _ok(b.http.post(f"/api/v1/screens/{screen['id']}/enrolment-code", headers=b.who["admin"]), 201)["code"]
    answer = _ok(b.http.post("/api/v1/enrol", json={"code": code, "agent_version": "bridge"}))
    assert _region(b.http)["state"] == "connected"  # synced only once the jobs reconcile it: it was down at start
    b.regional.stop()
    eventually(lambda: _region(b.http)["state"] == "unreachable", timeout=5)
    # Stored at once; the broker that holds the account cannot hear it now (logged, not a failed request),
    # and the request does not wait out the admin connection's timeout for it.
    started = time.monotonic()
    _ok(b.http.put(f"/api/v1/screens/{screen['id']}/enrolment", json={"enrolment": "revoked"},
                   headers=b.who["admin"]))
    assert time.monotonic() - started < 3
    b.regional.start()

    def revoked_there() -> bool:
        b.transport.run_jobs_once()  # what the owner's job thread does every few seconds
        try:
            return not b.transport.regions["south"].is_enabled(answer["screen_id"])
        except AccountError:  # the admin connection is still reconnecting
            return False

    eventually(revoked_there, timeout=30)
    assert _region(b.http) == {"state": "connected", "sites": [REGION_SITE], "accounts_synced": True}
    again = RawClient(parse_broker_url(answer["broker_url"]).with_credentials(answer["username"], answer["password"]),
                      client_id=f"screen-{answer['screen_id']}")
    assert again.connect().is_failure


def test_the_server_starts_with_a_region_down_and_its_enrolments_fail_fast_with_503(tmp_path: Path,
                                                                                    password_hash: str) -> None:
    _require_mosquitto()
    engine = make_engine(f"sqlite:///{tmp_path / 'signage.db'}")
    upgrade_to_head(engine)
    tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET, now=datetime(2026, 1, 1, tzinfo=UTC))
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    settings = Settings(data_dir=tmp_path / "var", secret_key=TEST_SECRET, migrate_on_start=False, mqtt_port=0,
                        mqtt_bind_host="127.0.0.1", mqtt_regions={"south": {
                            "url": f"mqtt://127.0.0.1:{free_port()}", "username": "signage-server", "password": "x" * 20,
                            "public_url": "mqtt://south.example:1883", "sites": [REGION_SITE],
                            "bridge_password": "b" * 24}})
    try:
        with TestClient(create_app(settings, engine=engine)) as http:
            assert http.get("/readyz").json()["transport"]["broker"]["state"] == "connected"
            # Ready all the same (the rest of the country is served), the region named as down.
            assert _region(http) == {"state": "unreachable", "sites": [REGION_SITE], "accounts_synced": False}
            screen = _ok(http.post("/api/v1/screens", json={
                "site_id": ids["site"], "name": "br-down", "width_px": 192, "height_px": 96, "pixel_pitch_mm": 10,
                "languages": ["vi"]}, headers=admin), 201)
            code = _ok(http.post(f"/api/v1/screens/{screen['id']}/enrolment-code", headers=admin), 201)["code"]
            started = time.monotonic()
            refused = http.post("/api/v1/enrol", json={"code": code, "agent_version": "bridge"})
            assert time.monotonic() - started < 3
            assert refused.status_code == 503 and "regional broker 'south' is unreachable" in refused.text
            # The refused attempt spent nothing: the code is refused for the broker again, not as used.
            assert http.post("/api/v1/enrol", json={"code": code, "agent_version": "bridge"}).status_code == 503
    finally:
        engine.dispose()


def _enrol_in_region(b: Bridged, state_root: Path) -> tuple[int, Path, dict[str, Any]]:
    """A screen of the region's site in the world's group, enrolled as an installer would; its player state dir."""
    screen = _ok(b.http.post("/api/v1/screens", json={
        "site_id": b.ids["site"], "name": f"br-{uuid.uuid4().hex[:6]}", "width_px": 768, "height_px": 384,
        "pixel_pitch_mm": 5, "languages": ["vi", "en", "km"], "default_playlist_id": b.ids["playlist"],
        "group_ids": [b.ids["group"]]}, headers=b.who["admin"]), 201)
    code = _ok(b.http.post(f"/api/v1/screens/{screen['id']}/enrolment-code", headers=b.who["admin"]), 201)["code"]
    answer = _ok(b.http.post("/api/v1/enrol", json={"code": code, "agent_version": "bridge"}))
    state_dir = state_root / f"player-{screen['id']}"
    apply_enrolment(state_dir, EnrolAnswer.model_validate(answer), now=datetime.now(UTC))
    return screen["id"], state_dir, answer


def _launch_alert(b: Bridged) -> int:
    templates = _ok(b.http.get("/api/v1/alert-templates", headers=b.who["approver"]))
    return int(_ok(b.http.post("/api/v1/alerts", headers=b.who["approver"], json={
        "template_id": next(t["id"] for t in templates if t["key"] == "border-closure"),
        "group_ids": [b.ids["group"]], "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}), 201)["id"])


def _acked(b: Bridged, alert_id: int, screen_id: int) -> bool:
    targets = _ok(b.http.get(f"/api/v1/alerts/{alert_id}", headers=b.who["operator"]))["targets"]
    return any(t["screen_id"] == screen_id and t["confirmed"] for t in targets)


def _plays(b: Bridged, screen_id: int) -> int:
    now = datetime.now(UTC)
    rows = _ok(b.http.get("/api/v1/playlog", headers=b.who["operator"], params={
        "screen": screen_id, "from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=2)).isoformat()}))
    return len(rows["items"] if isinstance(rows, dict) else rows)


def _beat_since(b: Bridged, screen_id: int, since: datetime) -> bool:
    beat = _status(b, screen_id)["heartbeat"]
    return beat is not None and datetime.fromisoformat(beat["received_at"]) > since


def test_a_real_player_on_the_regional_broker_plays_reports_acks_and_recovers_from_its_restart(
        bridged: Bridged, tmp_path: Path) -> None:
    b = bridged
    screen_id, state_dir, answer = _enrol_in_region(b, tmp_path)
    assert answer["broker_url"] == b.regional.url()  # the region's broker, not the central one
    t0, started = time.monotonic(), datetime.now(UTC)
    running = start_fast(state_dir)  # the player_agent itself, its clock at 10x so plays end within a second
    agent = running.agent
    try:
        # Manifest signed centrally and its assets pulled in chunks, both across the bridge: it plays.
        wait_for(lambda: agent.manifest is not None, 10, "the manifest and its assets through the bridge")
        t_manifest = time.monotonic() - t0
        wait_for(lambda: _beat_since(b, screen_id, started), 5, "a heartbeat stored by the server")
        t_beat = time.monotonic() - t0
        wait_for(lambda: _plays(b, screen_id) >= 1, 5, "play records stored by the server")
        t_plays = time.monotonic() - t0
        alert_id = _launch_alert(b)
        wait_for(lambda: _acked(b, alert_id, screen_id), 5, "the alert shown and its ack stored")
        t_ack = time.monotonic() - t0

        # The regional broker goes away and comes back with its retained state lost (disk replaced).
        b.regional.stop()
        shutil.rmtree(b.regional.paths.persistence, ignore_errors=True)
        connections = agent.link.connections if agent.link is not None else 0
        b.regional.start()
        back, back_at = time.monotonic(), datetime.now(UTC)
        wait_for(lambda: agent.link is not None and agent.link.connections > connections, 10, "the player back")
        wait_for(lambda: _beat_since(b, screen_id, back_at), 10, "a heartbeat after the restart")
        recovered_s = time.monotonic() - back
        # Server to player works again too: a new alert reaches it and its ack comes back.
        second = _launch_alert(b)
        wait_for(lambda: _acked(b, second, screen_id), 5, "the second alert acked after the restart")
        print(f"bridged player: manifest {t_manifest:.2f} s, heartbeat {t_beat:.2f} s, plays {t_plays:.2f} s, "
              f"alert ack {t_ack:.2f} s; regional restart: heartbeat stored {recovered_s:.2f} s after the broker "
              f"accepted again, a new alert acked {time.monotonic() - back:.2f} s after")
        assert agent.manifest is not None and not agent.last_error
    finally:
        running.stop()


def test_a_screen_on_the_regional_broker_cannot_read_or_speak_for_another_screen(bridged: Bridged,
                                                                                tmp_path: Path) -> None:
    b = bridged
    mine_id, _, mine = _enrol_in_region(b, tmp_path)
    theirs_id, _, theirs = _enrol_in_region(b, tmp_path)
    other = theirs["screen_id"]
    box = player(mine)
    try:
        # The bridge brings every screen's manifest into the regional broker; its ACLs still keep them apart.
        assert box.subscribe(manifest_topic(mine["screen_id"]))
        for topic in (manifest_topic(other), asset_chunk_topic(other), playlog_ack_topic(other),
                      "signage/v1/screens/+/manifest", "signage/v1/#"):
            assert not box.subscribe(topic), f"screen {mine['screen_id']} may subscribe to {topic}"
        # A report in the other screen's name is dropped by the regional broker, never reaches the server;
        # the screen's own, sent after it, does (so the forged one had its chance to arrive first).
        box.publish(heartbeat_topic(other), encode(Heartbeat(screen_id=other, sent_at=datetime.now(UTC),
                                                                uptime_s=666.0)), qos=1)
        box.publish(heartbeat_topic(mine["screen_id"]), encode(Heartbeat(
            screen_id=mine["screen_id"], sent_at=datetime.now(UTC), uptime_s=7.0)), qos=1)
        eventually(lambda: (_status(b, mine_id)["heartbeat"] or {}).get("uptime_s") == 7.0, timeout=10)
        assert _status(b, theirs_id)["heartbeat"] is None
    finally:
        box.close()
