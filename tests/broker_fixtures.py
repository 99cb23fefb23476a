"""Broker fixtures: a real Mosquitto on a free port in a temp dir, plus a small raw MQTT test client."""

from __future__ import annotations

import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from signage_core.mqtt_client import make_client
from signage_core.protocol import BrokerParams, screen_client_id
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import (
    ManagedMosquitto,
    TlsListener,
    find_dynsec_plugin,
    find_mosquitto,
)
from tests.tls_certs import Ca, ServerCert, issue_server_cert, make_ca


def _require_mosquitto() -> None:
    try:
        find_mosquitto()
        find_dynsec_plugin()
    except Exception as exc:  # skip with the reason, the install hint is in the message
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedMosquitto]:
    """One managed broker per test module, on a free port, stopped afterwards."""
    _require_mosquitto()
    managed = ManagedMosquitto(tmp_path_factory.mktemp("mosquitto"), port=0)
    managed.start()
    try:
        yield managed
    finally:
        managed.stop()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[ManagedMosquitto]:
    """A broker of the test's own, for tests that kill or restart it."""
    _require_mosquitto()
    managed = ManagedMosquitto(tmp_path / "mosquitto", port=0, restart_delay_s=0.1)
    managed.start()
    try:
        yield managed
    finally:
        managed.stop()


@dataclass(frozen=True)
class Pki:
    """The module's throw-away CAs and certificates; `ca` signs the broker's, `other_ca` signs nothing we use."""

    ca: Ca
    other_ca: Ca
    broker: ServerCert  # SAN 127.0.0.1 and localhost
    wrong_name: ServerCert  # signed by `ca`, but for another host


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Fresh CAs and certificates per module, so nothing trusts them but what a test points at them."""
    root = tmp_path_factory.mktemp("pki")
    ca = make_ca(root / "ca")
    return Pki(ca=ca, other_ca=make_ca(root / "other", "Other Test CA"),
               broker=issue_server_cert(ca, root / "broker"),
               wrong_name=issue_server_cert(ca, root / "wrong", names=("signage.other.example",), stem="wrong"))


def start_tls_broker(data_dir: Path, cert: ServerCert) -> ManagedMosquitto:
    """A managed broker with a plain loopback listener (admin) and a TLS listener (players), as deployed."""
    _require_mosquitto()
    managed = ManagedMosquitto(data_dir, port=0, tls=TlsListener(cert.cert_file, cert.key_file, port=0))
    managed.start()
    return managed


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[ManagedMosquitto]:
    """One broker per module whose TLS listener serves `pki.broker` (trusted through `pki.ca`)."""
    managed = start_tls_broker(tmp_path_factory.mktemp("mosquitto-tls"), pki.broker)
    try:
        yield managed
    finally:
        managed.stop()


def session_ports(broker: ManagedMosquitto, client_id_prefix: str) -> list[int]:
    """The listener port of each MQTT session whose client id starts with the prefix, from mosquitto's log."""
    lines = broker.paths.log.read_text(encoding="utf-8", errors="replace").splitlines()
    port_of = {m[1]: int(m[2]) for line in lines if (m := re.search(r"New connection from (\S+) on port (\d+)", line))}
    prefix = re.escape(client_id_prefix)
    return [port_of[m[1]] for line in lines if (m := re.search(rf"New client connected from (\S+) as {prefix}", line))]


@pytest.fixture(scope="module")
def accounts(broker: ManagedMosquitto) -> Iterator[DynsecAccounts]:
    """The server's dynsec admin connection to the module's broker."""
    with DynsecAccounts(broker.params()) as acc:
        yield acc


def unique_id(prefix: str = "scr") -> str:
    """A screen or group id no other test in the module uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class RawClient:
    """A bare paho client that records what the broker does to it, for ACL tests."""

    def __init__(self, params: BrokerParams, client_id: str | None = None, **will: Any) -> None:
        if client_id is None:
            # A screen's account may connect only under its own client id (the broker binds them).
            screen = params.username and params.username != "signage-server"
            client_id = screen_client_id(params.username or "") if screen else f"raw-{uuid.uuid4().hex[:8]}"
        self.client = make_client(params, client_id)
        if will:
            self.client.will_set(**will)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connack: queue.Queue[Any] = queue.Queue()
        self.disconnected = threading.Event()
        self.suback: dict[int, list[Any]] = {}
        self._suback_event = threading.Condition()
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnected.set()
        self.client.on_subscribe = self._on_subscribe
        self.params = params

    def _on_subscribe(self, c: mqtt.Client, u: object, mid: int, reasons: list[Any], p: Any) -> None:
        with self._suback_event:
            self.suback[mid] = reasons
            self._suback_event.notify_all()

    def connect(self, timeout: float = 5.0) -> Any:
        """Connect and return the CONNACK reason code (the client keeps running only on success)."""
        self.client.reconnect_delay_set(60, 120)  # a refused client must not retry during the test
        self.client.connect(self.params.host, self.params.port, keepalive=10)
        self.client.loop_start()
        rc = self.connack.get(timeout=timeout)
        if rc.is_failure:
            self.client.loop_stop()
        return rc

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 5.0) -> bool:
        """Subscribe and say whether the broker granted it."""
        _, mid = self.client.subscribe(topic, qos=qos)
        deadline = time.monotonic() + timeout
        with self._suback_event:
            while mid not in self.suback:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no SUBACK for {topic}")
                self._suback_event.wait(left)
        return not any(r.is_failure for r in self.suback[mid])

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait for the broker's PUBACK (which mosquitto sends even when the ACL drops it)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=5)

    def receive(self, timeout: float) -> mqtt.MQTTMessage | None:
        """The next message, or None if nothing arrives in time."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
