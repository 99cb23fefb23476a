"""The player over mqtts to a real Mosquitto: the right CA delivers, anything else is refused by name, never plaintext."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from player_agent.agent import read_status
from player_agent.cli import app
from player_agent.config import BrokerOptions
from player_agent.transport import broker_params
from signage_core import protocol as p
from signage_core.protocol import BrokerParams, ProtocolError, parse_broker_url
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import ManagedMosquitto
from tests.broker_fixtures import Pki, RawClient, session_ports, start_tls_broker, unique_id
from tests.player.agent_world import (
    Running,
    enrol_state,
    manifest,
    now_utc,
    settings_for,
    signed,
    start_agent,
)
from tests.polling import eventually

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def tls_accounts(tls_broker: ManagedMosquitto) -> Iterator[DynsecAccounts]:
    with DynsecAccounts(tls_broker.params()) as acc:
        yield acc


@pytest.fixture(scope="module")
def admin(tls_broker: ManagedMosquitto, pki: Pki) -> Iterator[RawClient]:
    """The test's server side, itself over mqtts with the right CA (the way a remote server would publish)."""
    plain = tls_broker.params()
    params = parse_broker_url(tls_broker.tls_url(), ca_file=str(pki.ca.cert_file))
    client = RawClient(params.with_credentials(plain.username or "", plain.password or ""))
    assert not client.connect().is_failure
    yield client
    client.close()


@dataclass
class Screen:
    screen_id: str
    state_dir: Path


def enrolled(accounts: DynsecAccounts, tmp_path: Path, broker_url: str) -> Screen:
    screen_id = unique_id()
    creds = accounts.add_screen(screen_id, groups=[])
    state_dir = tmp_path / "state"
    enrol_state(state_dir, screen_id, broker_url=broker_url, username=creds.username, password=creds.password)
    return Screen(screen_id, state_dir)


def refused(running: Running, words: str) -> str:
    eventually(lambda: words in (running.agent.last_error or ""), 10, f"last_error to say {words!r}")
    return running.agent.last_error or ""


def test_trusted_ca_connects_over_tls_and_receives_a_verified_manifest(
        tls_broker: ManagedMosquitto, tls_accounts: DynsecAccounts, admin: RawClient, pki: Pki,
        tmp_path: Path) -> None:
    screen = enrolled(tls_accounts, tmp_path, tls_broker.tls_url("localhost"))
    running = start_agent(settings_for(screen.state_dir, broker=BrokerOptions(ca_file=pki.ca.cert_file,
                                                                              require_tls=True)))
    try:
        eventually(lambda: running.agent.link is not None and running.agent.link.connected.is_set(), 10, "TLS connect")
        admin.publish(p.manifest_topic(screen.screen_id), signed(manifest(screen.screen_id, 3, now=now_utc())),
                      retain=True)
        eventually(lambda: running.agent.manifest is not None, 10, "manifest accepted")
        assert running.agent.manifest is not None and running.agent.manifest.version == 3
        assert running.agent.last_error is None
        assert tls_broker.tls is not None
        assert set(session_ports(tls_broker, f"screen-{screen.screen_id}")) == {tls_broker.tls.port}
    finally:
        running.stop()
        admin.publish(p.manifest_topic(screen.screen_id), b"", retain=True)


def test_a_different_ca_is_refused_by_name_reported_in_status_and_never_sent_in_plaintext(
        tls_broker: ManagedMosquitto, tls_accounts: DynsecAccounts, pki: Pki, tmp_path: Path) -> None:
    screen = enrolled(tls_accounts, tmp_path, tls_broker.tls_url())
    running = start_agent(settings_for(screen.state_dir, broker=BrokerOptions(ca_file=pki.other_ca.cert_file)))
    try:
        error = refused(running, "broker certificate not trusted")
        assert str(pki.other_ca.cert_file) in error and tls_broker.tls_url() in error
        eventually(lambda: "certificate not trusted" in str((read_status(screen.state_dir) or {}).get("last_error")), 5,
                 "status.json to carry the refusal")
        assert (read_status(screen.state_dir) or {}).get("connected") is False
        config = tmp_path / "player.toml"
        config.write_text(f'state_dir = "{screen.state_dir}"\n', encoding="utf-8")
        shown = CliRunner().invoke(app, ["status", "-c", str(config)])
        assert "broker certificate not trusted" in shown.output and "connected: no" in shown.output, shown.output
        # It keeps trying, over TLS only: the broker (plain listener included) never saw an MQTT session.
        link = running.agent.link
        assert link is not None
        eventually(lambda: link.backoff.attempt >= 2, 10, "a second attempt")
        assert link.connections == 0 and not link.connected.is_set()
        assert session_ports(tls_broker, f"screen-{screen.screen_id}") == []
    finally:
        running.stop()


def test_a_certificate_for_another_host_is_refused(
        tls_accounts: DynsecAccounts, pki: Pki, tmp_path: Path) -> None:
    other = start_tls_broker(tmp_path / "mosquitto-wrong-name", pki.wrong_name)
    try:
        screen_id = unique_id()
        with DynsecAccounts(other.params()) as acc:
            creds = acc.add_screen(screen_id, groups=[])  # the account is fine: only the name is wrong
        enrol_state(tmp_path / "state", screen_id, broker_url=other.tls_url(), username=creds.username,
                    password=creds.password)
        running = start_agent(settings_for(tmp_path / "state", broker=BrokerOptions(ca_file=pki.ca.cert_file)))
        try:
            error = refused(running, "broker certificate does not match host '127.0.0.1'")
            assert other.tls_url() in error
            assert running.agent.link is not None and running.agent.link.connections == 0
            assert session_ports(other, f"screen-{screen_id}") == []
        finally:
            running.stop()
    finally:
        other.stop()


def test_without_a_ca_file_the_system_trust_store_decides(
        tls_broker: ManagedMosquitto, tls_accounts: DynsecAccounts, pki: Pki, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A public CA (Let's Encrypt) needs no file on site; our private test CA is in no system store.
    screen = enrolled(tls_accounts, tmp_path, tls_broker.tls_url())
    running = start_agent(settings_for(screen.state_dir))
    try:
        error = refused(running, "broker certificate not trusted")
        assert "the system trust store (no CA file configured)" in error
    finally:
        running.stop()
    # Put the CA where OpenSSL's default paths look (as update-ca-certificates would): now it connects.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca.cert_file))
    running = start_agent(settings_for(screen.state_dir))
    try:
        eventually(lambda: running.agent.link is not None and running.agent.link.connected.is_set(), 10, "TLS connect")
        assert running.agent.last_error is None  # the earlier refusal is gone once connected
    finally:
        running.stop()


def test_a_plain_broker_url_is_refused_where_tls_is_required(
        tls_broker: ManagedMosquitto, tls_accounts: DynsecAccounts, pki: Pki, tmp_path: Path) -> None:
    screen = enrolled(tls_accounts, tmp_path, tls_broker.url())
    for options, setting in ((BrokerOptions(require_tls=True), "[broker] require_tls"),
                             (BrokerOptions(ca_file=pki.ca.cert_file), "[broker] ca_file")):
        running = start_agent(settings_for(screen.state_dir, broker=options))
        try:
            error = refused(running, "is plain MQTT but this player requires TLS")
            assert setting in error and "SIGNAGE_MQTT_PUBLIC_URL=mqtts://" in error
            assert running.agent.link is None
            eventually(lambda: "requires TLS" in str((read_status(screen.state_dir) or {}).get("last_error")), 5,
                     "status.json to carry the refusal")
        finally:
            running.stop()
    assert session_ports(tls_broker, f"screen-{screen.screen_id}") == []


def test_a_missing_or_bad_ca_file_names_the_file(
        tls_broker: ManagedMosquitto, tls_accounts: DynsecAccounts, tmp_path: Path) -> None:
    screen = enrolled(tls_accounts, tmp_path, tls_broker.tls_url())
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    for ca_file, words in ((tmp_path / "missing.pem", "cannot be read"), (junk, "holds no usable PEM certificate")):
        running = start_agent(settings_for(screen.state_dir, broker=BrokerOptions(ca_file=ca_file)))
        try:
            error = refused(running, f"broker CA file {ca_file} {words}")
            assert error.startswith("broker link not started")
        finally:
            running.stop()


def test_broker_params_keep_the_url_and_add_the_site_ca(pki: Pki) -> None:
    ca = pki.ca.cert_file
    params = broker_params("mqtts://gate.example:8883", ca_file=ca, require_tls=True)
    assert params == BrokerParams("gate.example", 8883, tls=p.TlsOptions(ca_file=str(ca)))
    # The site's file wins over a ?ca= the server put in the URL (a path on the server's disk).
    assert broker_params("mqtts://gate.example?ca=/srv/ca.pem", ca_file=ca).tls == p.TlsOptions(ca_file=str(ca))
    assert broker_params("mqtts://gate.example").tls == p.TlsOptions()  # system trust store
    assert broker_params("mqtt://gate.example").tls is None  # allowed only when nothing asks for TLS
    with pytest.raises(ProtocolError, match="plain MQTT"):
        broker_params("mqtt://gate.example", require_tls=True)
