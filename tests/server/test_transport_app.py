"""The app with its managed Mosquitto: enrolment, ACLs, revocation, reports and alerts end to end."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from signage_core.protocol import (
    AlertAck,
    AssetRequest,
    BrokerParams,
    ChunkHeader,
    Heartbeat,
    PlayLogAck,
    PlayLogBatch,
    PlayRecord,
    ScreenshotHeader,
    Status,
    alert_ack_topic,
    asset_chunk_topic,
    asset_request_topic,
    decode,
    decode_frame,
    encode,
    encode_frame,
    group_alert_topic,
    heartbeat_topic,
    manifest_topic,
    parse_broker_url,
    playlog_ack_topic,
    playlog_topic,
    screenshot_topic,
    status_topic,
)
from signage_core.signing import (
    EnvelopeKind,
    PublicKey,
    Rejection,
    TrustStore,
    VerificationError,
    sign_envelope,
    verify_envelope,
)
from signage_server.app import create_app
from signage_server.audit.models import AuditEvent
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from signage_server.enrolment.models import EnrolmentCode
from signage_server.manifests.keys import KeyRing
from signage_server.manifests.models import ManifestRecord
from signage_server.screens.models import Enrolment, Screen
from signage_server.telemetry import service as telemetry_service
from signage_server.telemetry.models import PlayLogEntry
from signage_server.transport.broker import BrokerPortInUse, free_port
from signage_server.transport.service import TransportService
from tests.broker_fixtures import RawClient, _require_mosquitto
from tests.server.conftest import TEST_SECRET
from tests.server.world import png, seed_world

T = TypeVar("T")


@dataclass
class OffsetClock:
    """Real time plus an offset: the broker runs in real time, the test can still jump ahead."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Live:
    app: Any
    client: TestClient
    tokens: dict[str, str]
    ids: dict[str, int]
    clock: OffsetClock
    engine: Engine
    settings: Settings

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    @property
    def transport(self) -> TransportService:
        transport: TransportService = self.app.state.transport
        return transport


def eventually(probe: Callable[[], T | None], timeout: float = 5.0) -> T:
    """Poll until probe returns something truthy; the hub writes on its own thread."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, password_hash: str) -> Iterator[Live]:
    _require_mosquitto()
    root = tmp_path_factory.mktemp("live")
    engine = make_engine(f"sqlite:///{root / 'signage.db'}")
    upgrade_to_head(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET, now=now)
    clock = OffsetClock()
    settings = Settings(data_dir=root / "var", secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_port=0, mqtt_bind_host="127.0.0.1", heartbeat_interval_s=1,
                        heartbeats_missed_offline=2)
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app) as client:
        yield Live(app, client, tokens, ids, clock, engine, settings)
    engine.dispose()


def new_screen(live: Live, *, group: bool = True) -> int:
    body = {"site_id": live.ids["site"], "name": f"scr-{uuid.uuid4().hex[:6]}", "width_px": 192, "height_px": 96,
            "pixel_pitch_mm": 5, "languages": ["vi", "en", "km"], "group_ids": [live.ids["group"]] if group else []}
    r = live.client.post("/api/v1/screens", json=body, headers=live.as_("admin"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def issue(live: Live, screen_id: int) -> str:
    r = live.client.post(f"/api/v1/screens/{screen_id}/enrolment-code", headers=live.as_("admin"))
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def enrol(live: Live, code: str) -> Any:
    return live.client.post("/api/v1/enrol", json={"code": code, "agent_version": "0.1.0"})


def enrolled(live: Live, *, group: bool = True) -> tuple[int, dict[str, Any]]:
    screen_id = new_screen(live, group=group)
    r = enrol(live, issue(live, screen_id))
    assert r.status_code == 200, r.text
    return screen_id, r.json()


def store_manifest(engine: Engine, screen_id: int, envelope: bytes, *, assets: Sequence[str] = ()) -> None:
    """A newest manifest in the history, as the compiler leaves it: what the transport publishes and serves."""
    now = datetime.now(UTC)
    with Session(engine) as s:
        newest = s.exec(select(func.max(ManifestRecord.version)).where(ManifestRecord.screen_id == screen_id)).one()
        s.add(ManifestRecord(screen_id=screen_id, version=(newest or 0) + 1, content_hash="sha256:test",
                             issued_at=now, expires_at=now + timedelta(days=7), horizon_start=now,
                             horizon_end=now + timedelta(days=7), key_id="test",
                             envelope_z=ManifestRecord.pack(envelope), asset_sha256s=list(assets)))
        s.commit()


def player(answer: dict[str, Any], **will: Any) -> RawClient:
    params = parse_broker_url(answer["broker_url"]).with_credentials(answer["username"], answer["password"])
    client = RawClient(params, client_id=f"screen-{answer['screen_id']}", **will)
    assert not client.connect().is_failure
    return client


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


# ---------------------------------------------------------------- broker lifecycle


def test_app_runs_its_own_broker_and_stops_it(tmp_path: Path) -> None:
    _require_mosquitto()
    port = free_port()
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_port=port, mqtt_bind_host="127.0.0.1")
    app = create_app(settings)
    with TestClient(app):
        transport: TransportService = app.state.transport
        assert transport.broker is not None and transport.broker.pid is not None
        assert transport.public_url.endswith(f":{port}")
        assert (tmp_path / "broker" / "mosquitto.conf").exists()
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    assert app.state.transport is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_a_taken_port_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    _require_mosquitto()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_port=port, mqtt_bind_host="127.0.0.1")
        with pytest.raises(BrokerPortInUse, match=f"port {port}.*already in use"), TestClient(create_app(settings)):
            pass


def test_external_broker_url_without_admin_account_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_url="mqtt://127.0.0.1:1")
    with pytest.raises(Exception, match="SIGNAGE_MQTT_USERNAME"), TestClient(create_app(settings)):
        pass


# ---------------------------------------------------------------- enrolment


def test_enrolment_gives_credentials_that_reach_only_the_screens_own_topics(live: Live) -> None:
    screen_id, answer = enrolled(live)
    key = KeyRing(live.settings.data_dir).current().public_key
    assert answer["screen_id"] == str(screen_id) and answer["username"] == str(screen_id)
    assert answer["server_public_key"] == key.base64 and PublicKey.from_base64(answer["server_public_key"]) == key
    assert answer["key_id"] == key.key_id and answer["fingerprint"] == key.fingerprint
    assert answer["groups"] == sorted([f"g{live.ids['group']}", f"s{screen_id}"])
    assert answer["broker_url"] == live.transport.public_url
    with Session(live.engine) as s:
        assert s.get_one(Screen, screen_id).enrolment == Enrolment.ENROLLED

    other_id, _ = enrolled(live)
    mine = player(answer)
    try:
        assert mine.subscribe(manifest_topic(answer["screen_id"]))
        assert mine.subscribe(group_alert_topic(f"g{live.ids['group']}"))
        assert not mine.subscribe(manifest_topic(str(other_id)))
        assert not mine.subscribe(group_alert_topic(f"s{other_id}"))
        envelope = sign_envelope(EnvelopeKind.MANIFEST, {"screen_id": str(screen_id), "version": 1},
                                 KeyRing(live.settings.data_dir).current())
        for sid in (other_id, screen_id):
            store_manifest(live.engine, sid, envelope.to_json())
        live.transport.on_manifests([other_id, screen_id])
        got = mine.receive(5)
        assert got is not None and got.topic == manifest_topic(str(screen_id))
        assert mine.receive(0.5) is None  # the other screen's manifest never arrives
    finally:
        mine.close()


def test_a_used_code_is_refused_and_changes_nothing(live: Live) -> None:
    screen_id = new_screen(live)
    code = issue(live, screen_id)
    assert enrol(live, code).status_code == 200
    again = enrol(live, code)
    assert again.status_code == 409 and error_code(again) == "enrolment_code_used"
    assert "already used" in again.json()["error"]["message"]


def test_expired_wrong_and_replaced_codes_are_refused(live: Live) -> None:
    screen_id = new_screen(live)
    code = issue(live, screen_id)
    live.clock.offset += timedelta(hours=24, minutes=1)
    try:
        expired = enrol(live, code)
    finally:
        live.clock.offset -= timedelta(hours=24, minutes=1)
    assert expired.status_code == 410 and error_code(expired) == "enrolment_code_expired"
    with Session(live.engine) as s:
        row = s.exec(select(EnrolmentCode).where(EnrolmentCode.screen_id == screen_id)).one()
        assert row.used_at is None
        assert s.get_one(Screen, screen_id).enrolment == Enrolment.PENDING

    wrong = enrol(live, "AAAA-BBBB-CCCC-DDDD")
    assert wrong.status_code == 400 and error_code(wrong) == "enrolment_code_invalid"
    newer = issue(live, screen_id)
    replaced = enrol(live, code)
    assert replaced.status_code == 400 and "replaced" in replaced.json()["error"]["message"]
    # Typed in lower case with spaces: still the same code.
    assert enrol(live, newer.lower().replace("-", " ")).status_code == 200


def test_only_admins_issue_codes(live: Live) -> None:
    r = live.client.post(f"/api/v1/screens/{live.ids['spare_screen']}/enrolment-code", headers=live.as_("operator"))
    assert r.status_code == 403


def test_repeated_wrong_codes_are_rate_limited(live: Live) -> None:
    try:
        statuses = [enrol(live, f"WRONG-{i:04d}").status_code for i in range(live.settings.enrol_max_failures_per_address + 2)]
        assert statuses[0] == 400 and statuses[-1] == 429
        screen_id = new_screen(live)
        limited = enrol(live, issue(live, screen_id))  # even a good code waits out the window
        assert limited.status_code == 429 and error_code(limited) == "rate_limited"
    finally:
        live.clock.offset += timedelta(minutes=live.settings.enrol_window_minutes + 1)


def test_revoking_a_screen_kicks_its_session_and_bars_it(live: Live) -> None:
    screen_id, answer = enrolled(live)
    client = player(answer)
    r = live.client.put(f"/api/v1/screens/{screen_id}/enrolment", json={"enrolment": "revoked"},
                        headers=live.as_("admin"))
    assert r.status_code == 200, r.text
    assert client.disconnected.wait(5)
    client.close()
    again = RawClient(parse_broker_url(answer["broker_url"]).with_credentials(answer["username"], answer["password"]))
    assert again.connect().is_failure


def test_re_enrolling_a_screen_kicks_the_old_box_and_locks_out_its_password(live: Live) -> None:
    """A replaced or stolen box keeps nothing: redeeming the new code cuts its live session and its password."""
    screen_id, old = enrolled(live)
    old_box = player(old)
    try:
        assert old_box.subscribe(manifest_topic(old["screen_id"]))
        code = issue(live, screen_id)
        # Issuing a code alone changes nothing for the screen still running (it may never be used).
        assert not old_box.disconnected.wait(1)
        r = enrol(live, code)
        assert r.status_code == 200, r.text
        new = r.json()
        assert new["username"] == old["username"] and new["password"] != old["password"]
        assert old_box.disconnected.wait(5)
    finally:
        old_box.close()
    stale = RawClient(parse_broker_url(old["broker_url"]).with_credentials(old["username"], old["password"]))
    assert stale.connect().is_failure
    new_box = player(new)
    try:
        assert new_box.subscribe(manifest_topic(new["screen_id"]))
        assert not new_box.disconnected.wait(1)
    finally:
        new_box.close()
    with Session(live.engine) as s:
        uses = s.exec(select(AuditEvent).where(AuditEvent.action == "enrolment.code_use",
                                               AuditEvent.entity_id == str(screen_id)).order_by(col(AuditEvent.id))).all()
    assert [u.after["reenrolment"] for u in uses if u.after] == [False, True]


def test_group_change_moves_the_account_to_the_new_alert_topics(live: Live) -> None:
    screen_id, answer = enrolled(live, group=False)
    assert live.transport.accounts is not None
    assert live.transport.accounts.screen_groups(str(screen_id)) == [f"s{screen_id}"]
    r = live.client.patch(f"/api/v1/screens/{screen_id}", json={"group_ids": [live.ids["empty_group"]]},
                          headers=live.as_("admin"))
    assert r.status_code == 200, r.text
    assert live.transport.accounts.screen_groups(str(screen_id)) == sorted([f"g{live.ids['empty_group']}", f"s{screen_id}"])


def test_start_up_reconciliation_disables_screens_revoked_in_the_database(live: Live) -> None:
    screen_id, _ = enrolled(live)
    with Session(live.engine) as s:  # revoked behind the app's back (e.g. restored backup)
        screen = s.get_one(Screen, screen_id)
        screen.enrolment = Enrolment.REVOKED
        s.add(screen)
        s.commit()
        assert live.transport.accounts is not None and live.transport.accounts.is_enabled(str(screen_id))
        live.transport.reconcile(s)
    assert not live.transport.accounts.is_enabled(str(screen_id))


# ---------------------------------------------------------------- reports


def test_heartbeat_and_status_reach_the_status_api_and_silence_turns_offline(live: Live) -> None:
    screen_id, answer = enrolled(live)
    wire = answer["screen_id"]
    client = player(answer)
    try:
        client.publish(status_topic(wire), encode(Status(screen_id=wire, state="online", agent_version="0.1.0")),
                       retain=True)
        beat = Heartbeat(screen_id=wire, sent_at=live.clock(), uptime_s=12.5, manifest_version="3",
                         current_slide_id="welcome", current_language="km", disk_free_bytes=5 * 2**30,
                         temperature_c=51.0, last_error="font cache rebuilt")
        client.publish(heartbeat_topic(wire), encode(beat), qos=0)

        def status() -> dict[str, Any] | None:
            body = live.client.get(f"/api/v1/screens/{screen_id}/status", headers=live.as_("operator")).json()
            return body if body["heartbeat"] else None

        body = eventually(status)
        assert body["state"] == "online" and body["agent_version"] == "0.1.0"
        hb = body["heartbeat"]
        assert (hb["manifest_version"], hb["current_slide_id"], hb["current_language"]) == ("3", "welcome", "km")
        assert hb["disk_free_bytes"] == 5 * 2**30 and hb["temperature_c"] == 51.0
        assert hb["last_error"] == "font cache rebuilt" and abs(hb["clock_offset_s"]) < 5
        listed = live.client.get("/api/v1/screens/status", headers=live.as_("translator")).json()
        assert any(s["screen_id"] == screen_id and s["state"] == "online" for s in listed)

        live.clock.offset += timedelta(seconds=10)  # two missed 1 s beats and more
        quiet, _ = live.transport.run_jobs_once()
        assert screen_id in quiet
        assert live.client.get(f"/api/v1/screens/{screen_id}/status", headers=live.as_("operator")).json()["state"] == "offline"
    finally:
        client.close()


def test_a_play_log_batch_sent_twice_is_stored_once_and_acked_both_times(live: Live) -> None:
    screen_id, answer = enrolled(live)
    wire = answer["screen_id"]
    client = player(answer)
    try:
        assert client.subscribe(playlog_ack_topic(wire))
        start = live.clock()
        batch = PlayLogBatch(screen_id=wire, records=[
            PlayRecord(record_id=f"r{i}", slide_id="welcome", language="km", frame_hash="b" * 64, manifest_version="3",
                       started_at=start + timedelta(seconds=10 * i), duration_ms=10_000) for i in range(3)])
        for _ in range(2):
            client.publish(playlog_topic(wire), encode(batch))
            ack = client.receive(5)
            assert ack is not None
            assert sorted(decode(PlayLogAck, ack.payload).record_ids) == ["r0", "r1", "r2"]
        with Session(live.engine) as s:
            rows = s.exec(select(PlayLogEntry).where(PlayLogEntry.screen_id == screen_id)).all()
        assert sorted(r.record_id for r in rows) == ["r0", "r1", "r2"]
        page = live.client.get("/api/v1/playlog", headers=live.as_("approver"), params={
            "screen": screen_id, "from": (start - timedelta(minutes=1)).isoformat(),
            "to": (start + timedelta(minutes=5)).isoformat()}).json()
        assert page["total"] == 3 and [i["record_id"] for i in page["items"]] == ["r0", "r1", "r2"]
    finally:
        client.close()


def test_a_report_for_another_screen_is_rejected(live: Live) -> None:
    _, answer = enrolled(live)
    other_id, _ = enrolled(live)
    client = player(answer)
    try:
        before = live.transport.hub.rejected if live.transport.hub else 0
        # Publishing on the other screen's topic is dropped by the ACL; on its own topic with a lie, by the hub.
        batch = PlayLogBatch(screen_id=str(other_id), records=[PlayRecord(
            record_id="x", slide_id="s", language="vi", frame_hash="c" * 64, manifest_version="1", started_at=live.clock(), duration_ms=1)])
        client.publish(playlog_topic(answer["screen_id"]), encode(batch))
        eventually(lambda: live.transport.hub is not None and live.transport.hub.rejected > before)
        with Session(live.engine) as s:
            assert s.exec(select(PlayLogEntry).where(PlayLogEntry.screen_id == other_id)).first() is None
    finally:
        client.close()


def test_screenshot_is_stored_and_served_with_a_thumbnail(live: Live) -> None:
    screen_id, answer = enrolled(live)
    wire = answer["screen_id"]
    r = live.client.patch(f"/api/v1/screens/{screen_id}", json={"width_px": 800, "height_px": 400},
                          headers=live.as_("admin"))
    assert r.status_code == 200, r.text
    image = png(800, 400, (10, 120, 200))
    client = player(answer)
    try:
        header = ScreenshotHeader(command_id="c1", taken_at=live.clock(), content_type="image/png", length=len(image))
        client.publish(screenshot_topic(wire), encode_frame(header, image))

        def shot() -> Any:
            r = live.client.get(f"/api/v1/screens/{screen_id}/screenshot", headers=live.as_("operator"))
            return r if r.status_code == 200 else None

        r = eventually(shot)
        assert r.content == image and r.headers["content-type"] == "image/png"
        thumb = live.client.get(f"/api/v1/screens/{screen_id}/screenshot", params={"thumbnail": "true"},
                                headers=live.as_("operator"))
        with Image.open(io.BytesIO(thumb.content)) as img:
            assert img.format == "JPEG" and img.size == (320, 160)
    finally:
        client.close()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but carries a few bytes of pixels: a decompression bomb's header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\0" * (1 + width * 3) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_a_screenshot_larger_than_the_screen_is_refused_unread_off_the_message_thread(
        live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    screen_id, answer = enrolled(live)  # a 192x96 screen
    wire = answer["screen_id"]
    calls: list[tuple[str, str]] = []
    real = telemetry_service.record_screenshot

    def watched(*args: Any, **kwargs: Any) -> Any:
        try:
            result = real(*args, **kwargs)
        except Exception as exc:
            calls.append((threading.current_thread().name, type(exc).__name__))
            raise
        calls.append((threading.current_thread().name, "stored"))
        return result

    monkeypatch.setattr(telemetry_service, "record_screenshot", watched)
    good = png(192, 96, (10, 120, 200))
    bomb = _png_header_only(12000, 12000)
    assert len(bomb) < 100_000
    client = player(answer)
    try:
        for command_id, image in (("good", good), ("bomb", bomb), ("wide", png(193, 96, (1, 2, 3)))):
            header = ScreenshotHeader(command_id=command_id, taken_at=live.clock(), content_type="image/png",
                                      length=len(image))
            client.publish(screenshot_topic(wire), encode_frame(header, image))
        eventually(lambda: len(calls) == 3 or None)
    finally:
        client.close()
    assert [outcome for _, outcome in calls] == ["stored", "Invalid", "Invalid"]
    assert all(name.startswith("screenshots") for name, _ in calls), calls
    r = live.client.get(f"/api/v1/screens/{screen_id}/screenshot", headers=live.as_("operator"))
    assert r.status_code == 200 and r.content == good  # the refused ones are not served


# ---------------------------------------------------------------- alerts


def _template(live: Live, key: str) -> int:
    templates = live.client.get("/api/v1/alert-templates", headers=live.as_("approver")).json()
    assert {t["key"] for t in templates} >= {"border-closure", "disease-control", "severe-weather"}
    return next(int(t["id"]) for t in templates if t["key"] == key)


def _trust(answer: dict[str, Any]) -> TrustStore:
    return TrustStore.of(PublicKey.from_base64(answer["server_public_key"]))


def test_alert_launch_ack_withdraw(live: Live) -> None:
    screen_id, answer = enrolled(live, group=False)
    wire = answer["screen_id"]
    client = player(answer)
    try:
        for group in answer["groups"]:
            assert client.subscribe(group_alert_topic(group))
        forbidden = live.client.post("/api/v1/alerts", headers=live.as_("operator"), json={
            "template_id": _template(live, "border-closure"), "screen_ids": [screen_id],
            "expires_at": (live.clock() + timedelta(hours=1)).isoformat()})
        assert forbidden.status_code == 403
        r = live.client.post("/api/v1/alerts", headers=live.as_("approver"), json={
            "template_id": _template(live, "border-closure"), "screen_ids": [screen_id],
            "expires_at": (live.clock() + timedelta(hours=1)).isoformat()})
        assert r.status_code == 201, r.text
        alert = r.json()
        assert alert["topics"] == [f"s{screen_id}"] and alert["total"] == 1 and alert["confirmed"] == 0

        msg = client.receive(5)
        assert msg is not None and msg.retain is False and msg.topic == group_alert_topic(f"s{screen_id}")
        verified = verify_envelope(msg.payload, trust=_trust(answer), expected_kind=EnvelopeKind.ALERT,
                                   screen_id=wire, last_version=None, now=live.clock())
        assert verified.body["action"] == "show" and verified.body["alert_id"] == str(alert["id"])
        assert verified.body["captions"]["km"].startswith("ច្រកទ្វារ")  # type: ignore[index, union-attr]
        frame = "ab" * 32
        client.publish(alert_ack_topic(wire), encode(AlertAck(alert_id=str(alert["id"]), frame_hash=frame,
                                                              shown_at=live.clock())))

        def confirmed() -> dict[str, Any] | None:
            body = live.client.get(f"/api/v1/alerts/{alert['id']}", headers=live.as_("operator")).json()
            return body if body["confirmed"] == 1 else None

        body = eventually(confirmed)
        target = body["targets"][0]
        assert target["screen_id"] == screen_id and target["frame_hash"] == frame
        assert 0 <= target["latency_ms"] < 5000 and body["latency_p50_ms"] == target["latency_ms"]

        w = live.client.post(f"/api/v1/alerts/{alert['id']}/withdraw", headers=live.as_("approver"))
        assert w.status_code == 200 and w.json()["state"] == "withdrawn"
        withdrawal = client.receive(5)
        assert withdrawal is not None
        checked = verify_envelope(withdrawal.payload, trust=_trust(answer), expected_kind=EnvelopeKind.ALERT,
                                  screen_id=wire, last_version=verified.header.version, now=live.clock())
        assert checked.body["action"] == "withdraw"
        cleared = client.receive(5)
        assert cleared is not None and cleared.payload == b""
        again = live.client.post(f"/api/v1/alerts/{alert['id']}/withdraw", headers=live.as_("approver"))
        assert again.status_code == 409
    finally:
        client.close()
    late = player(answer)  # nothing retained for a screen that connects after the withdrawal
    try:
        assert late.subscribe(group_alert_topic(f"s{screen_id}"))
        assert late.receive(0.5) is None
    finally:
        late.close()


def test_alert_on_a_group_reaches_a_late_joiner_until_it_expires(live: Live) -> None:
    screen_id, answer = enrolled(live)
    group = f"g{live.ids['group']}"
    r = live.client.post("/api/v1/alerts", headers=live.as_("approver"), json={
        "template_id": _template(live, "severe-weather"), "group_ids": [live.ids["group"]],
        "expires_at": (live.clock() + timedelta(minutes=10)).isoformat()})
    assert r.status_code == 201, r.text
    alert_id = r.json()["id"]
    assert screen_id in [t["screen_id"] for t in r.json()["targets"]]
    late = player(answer)
    try:
        assert late.subscribe(group_alert_topic(group))
        msg = late.receive(5)
        assert msg is not None and msg.retain
        verify_envelope(msg.payload, trust=_trust(answer), expected_kind=EnvelopeKind.ALERT,
                        screen_id=answer["screen_id"], last_version=None, now=live.clock())
        live.clock.offset += timedelta(minutes=11)
        with pytest.raises(VerificationError) as err:
            verify_envelope(msg.payload, trust=_trust(answer), expected_kind=EnvelopeKind.ALERT,
                            screen_id=answer["screen_id"], last_version=None, now=live.clock())
        assert err.value.reason is Rejection.EXPIRED
        _, expired = live.transport.run_jobs_once()
        assert alert_id in expired
        assert live.client.get(f"/api/v1/alerts/{alert_id}", headers=live.as_("operator")).json()["state"] == "expired"
    finally:
        late.close()
    after = player(answer)
    try:
        assert after.subscribe(group_alert_topic(group))
        assert after.receive(0.5) is None
    finally:
        after.close()


def test_broker_params_of_the_server_are_not_a_screens(live: Live) -> None:
    """The server's admin account is separate: a screen's credentials cannot reach $CONTROL."""
    _, answer = enrolled(live)
    client = player(answer)
    try:
        assert not client.subscribe("$CONTROL/dynamic-security/v1/response")
        assert isinstance(live.transport.params, BrokerParams)
        assert live.transport.params.username != answer["username"]
    finally:
        client.close()


def test_manifests_are_republished_when_the_managed_broker_is_killed(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Persistence saves once a second; the on_restart hook puts back what a kill -9 lost."""
    _require_mosquitto()
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade_to_head(engine)
    settings = Settings(data_dir=tmp_path / "var", secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_port=0, mqtt_bind_host="127.0.0.1")
    app = create_app(settings, engine=engine)
    with TestClient(app):
        transport: TransportService = app.state.transport
        assert transport.broker is not None and transport.accounts is not None and transport.params is not None
        creds = transport.accounts.add_screen("77", groups=["s77"])
        envelope = sign_envelope(EnvelopeKind.MANIFEST, {"screen_id": "77", "version": 5},
                                 KeyRing(settings.data_dir).current())
        store_manifest(engine, 77, envelope.to_json())
        transport.on_manifests(["77"])
        old_pid = transport.broker.pid
        assert old_pid is not None
        caplog.set_level("INFO", logger="signage_server.transport.service")
        os.kill(old_pid, signal.SIGKILL)  # at once: the retained message may not be on disk yet
        eventually(lambda: transport.broker is not None and transport.broker.restarts == 1, timeout=10)
        transport.broker.wait_ready()
        params = transport.params.with_credentials(creds.username, creds.password)

        def retained() -> bytes | None:
            client = RawClient(params)
            try:
                if client.connect().is_failure or not client.subscribe(manifest_topic("77")):
                    return None
                msg = client.receive(1)
                return msg.payload if msg is not None else None
            finally:
                client.close()

        assert eventually(retained, timeout=10) == envelope.to_json()
        # Republished from the hub's reconnect, in its own thread: persistence may have kept it already.
        assert eventually(lambda: "republished 1 retained manifests" in caplog.text or None, timeout=10)
    engine.dispose()


def test_retained_state_is_republished_on_the_hub_reconnect_and_readyz_reports_the_broker(tmp_path: Path) -> None:
    """A broker that comes back empty (here an external one, persistence lost) gets every manifest again."""
    from signage_server.transport.broker import ManagedMosquitto

    _require_mosquitto()
    external = ManagedMosquitto(tmp_path / "external-broker", port=0)
    admin = external.start()
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade_to_head(engine)
    settings = Settings(data_dir=tmp_path / "var", secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_url=f"mqtt://127.0.0.1:{external.port}", mqtt_username=admin.username,
                        mqtt_password=admin.password)
    app = create_app(settings, engine=engine)
    try:
        with TestClient(app) as client:
            transport: TransportService = app.state.transport
            assert transport.accounts is not None and transport.params is not None
            creds = transport.accounts.add_screen("78", groups=["s78"])
            envelope = sign_envelope(EnvelopeKind.MANIFEST, {"screen_id": "78", "version": 3},
                                     KeyRing(settings.data_dir).current())
            store_manifest(engine, 78, envelope.to_json())
            transport.on_manifests(["78"])
            assert client.get("/readyz").json()["transport"]["broker"] == {"state": "connected", "managed": False}
            external.stop()
            for saved in external.paths.persistence.iterdir():
                saved.unlink()  # it comes back without the retained manifest
            assert eventually(lambda: client.get("/readyz").json()["transport"]["broker"]["state"] == "disconnected"
                              or None)
            external.start()
            params = transport.params.with_credentials(creds.username, creds.password)

            def retained() -> bytes | None:
                raw = RawClient(params)
                try:
                    if raw.connect().is_failure or not raw.subscribe(manifest_topic("78")):
                        return None
                    msg = raw.receive(0.5)
                    return msg.payload if msg is not None else None
                finally:
                    raw.close()

            assert eventually(retained, timeout=10) == envelope.to_json()
            assert client.get("/readyz").json()["transport"]["broker"]["state"] == "connected"
    finally:
        external.stop()
        engine.dispose()


def test_missing_mosquitto_stops_the_start_with_install_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from signage_server.transport import broker as broker_module

    monkeypatch.setattr(broker_module.shutil, "which", lambda *a, **k: None)
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_port=0, mqtt_bind_host="127.0.0.1")
    with pytest.raises(broker_module.BrokerNotInstalled, match="apt-get install mosquitto.*SIGNAGE_MQTT_URL"), \
            TestClient(create_app(settings)):
        pass


def test_telemetry_and_alert_routes_need_a_login_but_enrol_does_not(live: Live) -> None:
    for method, path in (("GET", "/api/v1/screens/status"), ("GET", f"/api/v1/screens/{live.ids['screen']}/status"),
                         ("GET", f"/api/v1/screens/{live.ids['screen']}/screenshot"), ("GET", "/api/v1/playlog"),
                         ("GET", "/api/v1/alert-templates"), ("POST", "/api/v1/alerts"), ("GET", "/api/v1/alerts/1"),
                         ("POST", "/api/v1/alerts/1/withdraw"),
                         ("POST", f"/api/v1/screens/{live.ids['screen']}/enrolment-code")):
        r = live.client.request(method, path)
        assert r.status_code == 401, (path, r.text)
    assert enrol(live, "ZZZZ-ZZZZ-ZZZZ-ZZZZ").status_code == 400  # judged on the code, no login asked
    missing = live.client.get(f"/api/v1/screens/{live.ids['spare_screen']}/screenshot", headers=live.as_("operator"))
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    naive = live.client.get("/api/v1/playlog", params={"from": "2026-03-01T00:00:00"}, headers=live.as_("operator"))
    assert naive.status_code == 422 and naive.json()["error"]["details"]["field"] == "from"


def test_manifest_compiler_wiring_publishes_and_limits_fetches(live: Live) -> None:
    """on_manifests and the chunk server read the manifest history the app wires in at construction."""
    screen_id, answer = enrolled(live)
    wire = answer["screen_id"]
    data = b"asset bytes " * 1000
    sha = hashlib.sha256(data).hexdigest()
    live.app.state.asset_store.put(data, sha)
    other = hashlib.sha256(b"not referenced").hexdigest()
    live.app.state.asset_store.put(b"not referenced", other)
    envelope = sign_envelope(EnvelopeKind.MANIFEST, {"screen_id": wire, "version": 2},
                             KeyRing(live.settings.data_dir).current()).to_json()
    transport = live.transport
    store_manifest(live.engine, screen_id, envelope, assets=[sha])
    client = player(answer)
    try:
        assert client.subscribe(manifest_topic(wire)) and client.subscribe(asset_chunk_topic(wire))
        transport.on_manifests([wire])
        got = client.receive(5)
        assert got is not None and got.payload == envelope
        for request_id, digest in (("ok", sha), ("no", other)):
            client.publish(asset_request_topic(wire), encode(AssetRequest(
                request_id=request_id, sha256=digest, offset=0, length=65536)))
            msg = client.receive(5)
            assert msg is not None
            header, body = decode_frame(ChunkHeader, msg.payload)
            if request_id == "ok":
                assert header.error is None and body == data[:65536][: header.length] and header.total_size == len(data)
            else:
                assert header.error is not None and "not in screen" in header.error and body == b""
    finally:
        client.close()


def test_external_broker_is_used_with_the_admin_account_from_settings(tmp_path: Path, broker: Any) -> None:
    admin = broker.params()
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, mqtt_url=broker.url(),
                        mqtt_username=admin.username, mqtt_password=admin.password,
                        mqtt_public_url="mqtt://gate.example.vn:1883")
    app = create_app(settings)
    with TestClient(app):
        transport: TransportService = app.state.transport
        assert transport.broker is None and transport.public_url == "mqtt://gate.example.vn:1883"
        assert transport.hub is not None and transport.accounts is not None
        creds = transport.accounts.add_screen("4242")
        assert "4242" in transport.accounts.list_screens()
        client = RawClient(admin.with_credentials(creds.username, creds.password))
        assert not client.connect().is_failure
        client.close()
    assert broker.pid is not None  # an external broker is not ours to stop


def test_deleting_a_group_takes_its_alert_topic_from_member_accounts(live: Live) -> None:
    r = live.client.post("/api/v1/groups", json={"name": f"tmp-{uuid.uuid4().hex[:6]}"}, headers=live.as_("admin"))
    gid = r.json()["id"]
    screen_id, _ = enrolled(live, group=False)
    live.client.patch(f"/api/v1/screens/{screen_id}", json={"group_ids": [gid]}, headers=live.as_("admin"))
    assert live.transport.accounts is not None
    assert live.transport.accounts.screen_groups(str(screen_id)) == sorted([f"g{gid}", f"s{screen_id}"])
    assert live.client.delete(f"/api/v1/groups/{gid}", headers=live.as_("admin")).status_code == 204
    assert live.transport.accounts.screen_groups(str(screen_id)) == [f"s{screen_id}"]
