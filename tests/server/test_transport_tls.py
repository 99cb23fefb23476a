"""The server reaching its broker over mqtts with the deployment's settings, and a real player following it there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from player_agent.config import BrokerOptions
from signage_core.mqtt_client import BrokerTlsError, connect_client, make_client
from signage_core.protocol import parse_broker_url
from signage_server.app import create_app
from signage_server.config import Settings, load_settings
from signage_server.db import make_engine, upgrade_to_head
from signage_server.manifests.keys import KeyRing
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import BrokerError, ManagedMosquitto, TlsListener
from signage_server.transport.service import TransportService
from tests.broker_fixtures import Pki, _require_mosquitto, session_ports, start_tls_broker
from tests.player.agent_world import settings_for, start_agent, wait_for
from tests.server.conftest import TEST_SECRET
from tests.server.world import enrol_player, seed_world
from tests.tls_certs import issue_server_cert

pytestmark = pytest.mark.broker

SERVER_CLIENTS = ("signage-accounts-", "signage-hub-", "signage-chunks-")


def deployment_env(broker: ManagedMosquitto, data_dir: Path, ca_file: Path) -> dict[str, str]:
    """server.env for a server whose broker is on another host and reached over TLS (docs/operations.md)."""
    admin = broker.params()
    assert broker.tls is not None
    return {
        "SIGNAGE_DATA_DIR": str(data_dir),
        "SIGNAGE_SECRET_KEY": TEST_SECRET,
        "SIGNAGE_MIGRATE_ON_START": "false",
        "SIGNAGE_MQTT_URL": broker.tls_url("127.0.0.1"),
        "SIGNAGE_MQTT_USERNAME": admin.username or "",
        "SIGNAGE_MQTT_PASSWORD": admin.password or "",
        "SIGNAGE_MQTT_CA_FILE": str(ca_file),
        # Players are told the name on the certificate, as install-server.sh does with --server-name.
        "SIGNAGE_MQTT_PUBLIC_URL": broker.tls_url("localhost"),
    }


def settings_from_env(env: dict[str, str]) -> Settings:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        return load_settings()


@dataclass
class Live:
    app: Any
    client: TestClient
    token: str
    ids: dict[str, int]
    settings: Settings

    @property
    def transport(self) -> TransportService:
        transport: TransportService = self.app.state.transport
        return transport


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('tls-db') / 'signage.db'}")
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def world(engine: Engine, password_hash: str) -> tuple[str, dict[str, int]]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET, now=now, approve_slide=True)
    return tokens["admin"], ids


@pytest.fixture(scope="module")
def live(tls_broker: ManagedMosquitto, pki: Pki, engine: Engine, world: tuple[str, dict[str, int]],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = settings_from_env(deployment_env(tls_broker, tmp_path_factory.mktemp("tls-server"),
                                                pki.ca.cert_file))
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        yield Live(app, client, world[0], world[1], settings)


def enrolled_player(live: Live, tmp_path: Path) -> Path:
    return enrol_player(live.client, live.token, live.ids, tmp_path)


def test_server_over_mqtts_publishes_and_a_player_with_the_ca_verifies_it(
        live: Live, tls_broker: ManagedMosquitto, pki: Pki, tmp_path: Path) -> None:
    assert tls_broker.tls is not None
    # The server's clients (accounts, hub, chunks) all came in on the TLS listener, none on the plain one.
    for prefix in SERVER_CLIENTS:
        assert set(session_ports(tls_broker, prefix)) == {tls_broker.tls.port}, prefix
    assert live.transport.public_url == f"mqtts://localhost:{tls_broker.tls.port}"
    state_dir = enrolled_player(live, tmp_path)
    running = start_agent(settings_for(state_dir, broker=BrokerOptions(ca_file=pki.ca.cert_file, require_tls=True)))
    try:
        agent = running.agent
        ring: KeyRing = live.app.state.key_ring
        wait_for(lambda: agent.manifest is not None, 15, "the server's manifest, verified")
        assert agent.manifest is not None and agent.manifest.screen_id == agent.screen_id
        assert agent.manifest_raw is not None and ring.current().key_id in agent.manifest_raw.decode()
        assert agent.last_error is None
        assert set(session_ports(tls_broker, f"screen-{agent.screen_id}")) == {tls_broker.tls.port}
    finally:
        running.stop()


def test_server_refuses_to_start_when_the_broker_certificate_is_not_from_its_ca(
        tls_broker: ManagedMosquitto, pki: Pki, engine: Engine, tmp_path: Path) -> None:
    settings = settings_from_env(deployment_env(tls_broker, tmp_path / "var", pki.other_ca.cert_file))
    app = create_app(settings, engine=engine)
    with pytest.raises(BrokerTlsError) as refused, TestClient(app):
        pass
    message = str(refused.value)
    assert message.startswith("broker certificate not trusted")
    assert str(pki.other_ca.cert_file) in message and tls_broker.tls_url("127.0.0.1") in message
    assert app.state.transport is None


def test_server_names_an_unreadable_ca_file(tls_broker: ManagedMosquitto, engine: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    app = create_app(settings_from_env(deployment_env(tls_broker, tmp_path / "var", missing)), engine=engine)
    with pytest.raises(BrokerTlsError, match=f"broker CA file {missing} cannot be read"), TestClient(app):
        pass


def _handshake(url: str, ca_file: Path, *, insecure: bool = False) -> str:
    params = parse_broker_url(url, ca_file=str(ca_file), insecure=insecure)
    client = make_client(params, f"tls-probe-{uuid.uuid4().hex[:6]}")
    try:
        connect_client(client, params, keepalive=5)
    except BrokerTlsError as exc:
        return str(exc)
    client.disconnect()
    return "connected"


def test_an_expired_certificate_and_a_plain_port_are_named(
        tls_broker: ManagedMosquitto, pki: Pki, tmp_path: Path) -> None:
    plain_port = parse_broker_url(tls_broker.url()).port
    message = _handshake(f"mqtts://127.0.0.1:{plain_port}", pki.ca.cert_file)
    assert message == (f"broker mqtts://127.0.0.1:{plain_port} closed the connection during the TLS handshake: "
                       f"is port {plain_port} a TLS listener?")
    expired = start_tls_broker(tmp_path / "mosquitto-expired",
                               issue_server_cert(pki.ca, tmp_path / "expired", stem="expired", expired=True))
    try:
        message = _handshake(expired.tls_url(), pki.ca.cert_file)
        assert message.startswith("broker certificate not trusted: certificate has expired"), message
    finally:
        expired.stop()
    assert _handshake(tls_broker.tls_url("localhost"), pki.ca.cert_file) == "connected"


def test_insecure_skips_only_the_name_check(pki: Pki, tmp_path: Path) -> None:
    other = start_tls_broker(tmp_path / "mosquitto-wrong-name", pki.wrong_name)
    try:
        assert _handshake(other.tls_url(), pki.ca.cert_file).startswith(
            "broker certificate does not match host '127.0.0.1'")
        assert _handshake(other.tls_url(), pki.ca.cert_file, insecure=True) == "connected"
        assert _handshake(other.tls_url(), pki.other_ca.cert_file, insecure=True).startswith(
            "broker certificate not trusted")
    finally:
        other.stop()


def test_a_background_reconnect_to_an_untrusted_certificate_is_logged_by_name(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = start_tls_broker(tmp_path / "mosquitto", pki.broker)
    assert first.tls is not None
    plain_port, tls_port = first.port, first.tls.port
    admin = first.params()
    params = parse_broker_url(first.tls_url(), ca_file=str(pki.ca.cert_file)).with_credentials(
        admin.username or "", admin.password or "")
    accounts = DynsecAccounts(params)
    accounts.connect()
    replaced: ManagedMosquitto | None = None
    try:
        first.stop()
        # The same broker comes back with a certificate from a CA the server does not know.
        stranger = issue_server_cert(pki.other_ca, tmp_path / "stranger", stem="stranger")
        replaced = ManagedMosquitto(tmp_path / "mosquitto", port=plain_port,
                                    tls=TlsListener(stranger.cert_file, stranger.key_file, port=tls_port))
        replaced.start()
        with caplog.at_level("WARNING", logger="signage_core.mqtt_client"):
            wait_for(lambda: any("broker certificate not trusted" in r.getMessage() for r in caplog.records),
                     10, "the reconnect failure in the log")
        line = next(r.getMessage() for r in caplog.records if "not trusted" in r.getMessage())
        assert "cannot reconnect" in line and str(pki.ca.cert_file) in line
    finally:
        accounts.close()
        if replaced is not None:
            replaced.stop()


def test_managed_broker_names_an_unreadable_listener_key_before_starting(pki: Pki, tmp_path: Path) -> None:
    _require_mosquitto()
    missing = tmp_path / "no-such.key"
    managed = ManagedMosquitto(tmp_path / "mosquitto", port=0,
                               tls=TlsListener(pki.broker.cert_file, missing, port=0))
    with pytest.raises(BrokerError, match=f"TLS listener private key {missing} cannot be read"):
        managed.start()
    assert managed.pid is None
