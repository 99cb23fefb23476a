"""The wiring end to end without a browser: API enrolment, approval, retained signed manifest, chunk fetch."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from signage_core.manifest import verify_manifest
from signage_core.protocol import (
    AssetRequest,
    ChunkHeader,
    asset_chunk_topic,
    asset_request_topic,
    decode_frame,
    encode,
    manifest_topic,
    parse_broker_url,
)
from signage_core.signing import PublicKey, TrustStore
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from tests.broker_fixtures import RawClient, _require_mosquitto
from tests.server.conftest import TEST_SECRET
from tests.server.world import png, seed_world


@pytest.fixture()
def api(tmp_path: Any, password_hash: str) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], dict[str, int]]]:
    _require_mosquitto()
    engine = make_engine(f"sqlite:///{tmp_path / 'signage.db'}")
    upgrade_to_head(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET, now=now)
    headers = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
    settings = Settings(data_dir=tmp_path / "var", secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_port=0, mqtt_bind_host="127.0.0.1")
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client, headers, ids
    engine.dispose()


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _fetch(client: RawClient, wire: str, sha256: str, request_id: str) -> tuple[ChunkHeader, bytes]:
    """One whole asset over the chunk protocol, 64 KiB at a time, as the player's AssetFetcher does."""
    data, offset = b"", 0
    while True:
        client.publish(asset_request_topic(wire), encode(AssetRequest(
            request_id=f"{request_id}-{offset}", sha256=sha256, offset=offset, length=65536)))
        msg = client.receive(5)
        assert msg is not None, "no chunk answer"
        header, body = decode_frame(ChunkHeader, msg.payload)
        if header.error is not None:
            return header, b""
        data += body
        offset += header.length
        if offset >= header.total_size:
            return header, data


def test_enrol_approve_and_the_screen_receives_a_verifiable_manifest_and_its_image(api: Any) -> None:
    http, who, ids = api
    image = png(64, 32, (10, 120, 200))
    slide = _ok(http.post("/api/v1/slides", json={"name": f"e2e-{uuid.uuid4().hex[:6]}"}, headers=who["operator"]),
                201)
    _ok(http.put(f"/api/v1/slides/{slide['id']}/image", files={"file": ("gate.png", image, "image/png")},
                 headers=who["operator"]))
    _ok(http.put(f"/api/v1/slides/{slide['id']}/captions/vi", json={"text": "Cửa khẩu Hoa Lư", "submit": True},
                 headers=who["operator"]))
    playlist = _ok(http.post("/api/v1/playlists", json={"name": f"e2e-{uuid.uuid4().hex[:6]}", "items": [
        {"slide_id": slide["id"], "duration_s": 10}]}, headers=who["operator"]), 201)
    screen = _ok(http.post("/api/v1/screens", json={
        "site_id": ids["site"], "name": f"e2e-{uuid.uuid4().hex[:6]}", "width_px": 192, "height_px": 96,
        "pixel_pitch_mm": 5, "languages": ["vi"], "default_playlist_id": playlist["id"]}, headers=who["admin"]), 201)

    code = _ok(http.post(f"/api/v1/screens/{screen['id']}/enrolment-code", headers=who["admin"]), 201)["code"]
    answer = _ok(http.post("/api/v1/enrol", json={"code": code, "agent_version": "e2e"}))
    wire = answer["screen_id"]
    # The broker listens on loopback only: the player is told that address, not the machine's name.
    assert answer["broker_url"] == f"mqtt://127.0.0.1:{http.app.state.transport.broker.port}"
    params = parse_broker_url(answer["broker_url"]).with_credentials(answer["username"], answer["password"])
    player = RawClient(params, client_id=f"screen-{wire}")
    assert not player.connect().is_failure
    try:
        assert player.subscribe(manifest_topic(wire)) and player.subscribe(asset_chunk_topic(wire))
        # Approval through the API: the recompile inside that commit publishes the screen's manifest retained.
        _ok(http.post(f"/api/v1/slides/{slide['id']}/captions/vi/approve", headers=who["approver"]))
        _ok(http.post(f"/api/v1/slides/{slide['id']}/approve", headers=who["approver"]))

        trust = TrustStore.of(PublicKey.from_base64(answer["server_public_key"]))
        body = None
        for _ in range(20):  # the first manifest may predate the approval; wait for the one naming the slide
            msg = player.receive(5)
            assert msg is not None, "no manifest reached the screen"
            assert msg.topic == manifest_topic(wire)
            body = verify_manifest(msg.payload, trust=trust, screen_id=wire, last_version=None,
                                   now=datetime.now(UTC))
            if body.assets:
                break
        assert body is not None and body.assets, "the approved slide's image is not in the manifest"
        sha = next(iter(body.assets))
        header, data = _fetch(player, wire, sha, "ok")
        assert header.error is None and hashlib.sha256(data).hexdigest() == sha and len(data) == body.assets[sha].size

        foreign = hashlib.sha256(b"not in this screen's manifest").hexdigest()
        header, data = _fetch(player, wire, foreign, "no")
        assert header.error is not None and data == b""
    finally:
        player.close()
