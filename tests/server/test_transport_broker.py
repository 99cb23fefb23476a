"""The managed broker: clear start-up errors, supervision after kill -9, retained state on disk."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from signage_core import protocol as p
from signage_core.protocol import TopicKind, alert_ack_topic, all_screens_filter
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import (
    BrokerNotInstalled,
    BrokerPortInUse,
    ManagedMosquitto,
)
from tests.broker_fixtures import RawClient, unique_id

pytestmark = pytest.mark.broker


def test_missing_binary_says_how_to_install_or_use_an_external_broker(tmp_path: Path) -> None:
    managed = ManagedMosquitto(tmp_path, port=0, binary=str(tmp_path / "no-such-mosquitto"))
    with pytest.raises(BrokerNotInstalled) as err:
        managed.start()
    assert "apt-get install mosquitto" in str(err.value)
    assert "SIGNAGE_MQTT_URL" in str(err.value)


def test_port_taken_is_reported_as_such(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        managed = ManagedMosquitto(tmp_path, port=port)
        with pytest.raises(BrokerPortInUse, match=f"port {port} on 127.0.0.1 is already in use"):
            managed.start()
        assert managed.pid is None


def test_a_picked_port_taken_before_start_is_picked_again(tmp_path: Path) -> None:
    managed = ManagedMosquitto(tmp_path, port=0)
    picked = managed.port
    with socket.socket() as squatter:
        # Something else (another connection's ephemeral port) takes the port between picking and start.
        squatter.bind(("127.0.0.1", picked))
        squatter.listen()
        params = managed.start()
        try:
            assert params.port == managed.port != picked
            assert f"listener {managed.port} 127.0.0.1" in managed.paths.config.read_text()
            client = RawClient(params)
            assert not client.connect().is_failure
            client.close()
        finally:
            managed.stop()


def test_generated_config_refuses_anonymous_and_limits_message_size(fresh_broker: ManagedMosquitto) -> None:
    conf = fresh_broker.paths.config.read_text()
    assert "allow_anonymous false" in conf
    assert f"message_size_limit {p.MESSAGE_SIZE_LIMIT}" in conf
    assert "persistence true" in conf
    assert oct(fresh_broker.paths.account.stat().st_mode & 0o777) == "0o600"
    # An oversize message is dropped by the broker, a chunk-sized one goes through.
    server = RawClient(fresh_broker.params())
    assert not server.connect().is_failure
    assert server.subscribe("signage/v1/#")
    server.publish(p.asset_chunk_topic("x"), b"x" * (p.MESSAGE_SIZE_LIMIT + 1))
    server.publish(p.asset_chunk_topic("x"), b"y" * (p.MAX_CHUNK_SIZE + 100))
    msg = server.receive(timeout=3)
    assert msg is not None and msg.payload[:1] == b"y"
    server.close()


def test_killed_broker_comes_back_with_retained_manifest(tmp_path: Path) -> None:
    restarted = threading.Event()
    fresh_broker = ManagedMosquitto(tmp_path, port=0, restart_delay_s=0.1, on_restart=restarted.set)
    fresh_broker.start()
    try:
        _kill_and_check(fresh_broker)
        assert restarted.is_set()  # the server's hook to republish manifests ran
    finally:
        fresh_broker.stop()


def _kill_and_check(fresh_broker: ManagedMosquitto) -> None:
    server = RawClient(fresh_broker.params())
    assert not server.connect().is_failure
    db = fresh_broker.paths.persistence / "mosquitto.db"
    before = db.stat().st_mtime_ns if db.exists() else 0
    server.publish(p.manifest_topic("hoa-lu-1"), b'{"manifest":"v7"}', retain=True)
    server.close()
    deadline = time.monotonic() + 5
    while (not db.exists() or db.stat().st_mtime_ns == before) and time.monotonic() < deadline:
        time.sleep(0.05)  # autosave_on_changes writes the db right after the retained publish

    old_pid = fresh_broker.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while fresh_broker.restarts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fresh_broker.restarts == 1
    fresh_broker.wait_ready(10)
    assert fresh_broker.pid not in (None, old_pid)

    again = RawClient(fresh_broker.params())
    assert not again.connect().is_failure
    assert again.subscribe(p.manifest_topic("hoa-lu-1"))
    msg = again.receive(timeout=3)
    assert msg is not None and msg.payload == b'{"manifest":"v7"}' and msg.retain
    again.close()


def test_restart_keeps_the_server_account_and_stop_ends_the_child(tmp_path: Path) -> None:
    first = ManagedMosquitto(tmp_path / "b", port=0)
    params = first.start()
    pid = first.pid
    first.stop()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    second = ManagedMosquitto(tmp_path / "b", port=0)
    assert second.start().password == params.password
    client = RawClient(second.params())
    assert not client.connect().is_failure
    client.close()
    second.stop()


def test_broker_left_running_by_a_crashed_server_is_replaced(tmp_path: Path) -> None:
    crashed = ManagedMosquitto(tmp_path, port=0)
    crashed.start()
    crashed._stopping.set()  # the server process died: nobody supervises or stops the child
    orphan = crashed.pid
    assert orphan is not None
    successor = ManagedMosquitto(tmp_path, port=crashed.port)
    try:
        successor.start()
        assert successor.pid not in (None, orphan)
        crashed._proc.wait(5)  # type: ignore[union-attr]
        client = RawClient(successor.params())
        assert not client.connect().is_failure
        client.close()
    finally:
        successor.stop()
        crashed.stop()


def test_a_national_burst_of_acks_waits_for_a_busy_server_instead_of_being_dropped(
        broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    """5,000 screens acknowledge one alert within a second; the server's one connection may be thousands
    behind. Mosquitto queues QoS 1 messages for a client up to max_queued_messages and drops the rest:
    at 1,000 the alert report would have named acknowledged screens as silent."""
    n = 5_000
    screen = unique_id()
    creds = accounts.add_screen(screen)
    server = RawClient(broker.params())
    server.connect()
    assert server.subscribe(all_screens_filter(TopicKind.ALERT_ACK))
    server.client.loop_stop()  # the server is busy: it reads and acknowledges nothing for a while
    sender = RawClient(broker.params().with_credentials(creds.username, creds.password))
    sender.client.max_inflight_messages_set(1000)
    try:
        assert not sender.connect().is_failure
        sent = [sender.client.publish(alert_ack_topic(screen), str(i).encode(), qos=1) for i in range(n)]
        for info in sent:
            info.wait_for_publish(timeout=30)  # all taken by the broker while the server reads nothing
        server.client.loop_start()
        got: set[bytes] = set()
        while len(got) < n and (message := server.receive(timeout=5)) is not None:
            got.add(bytes(message.payload))
        assert len(got) == n, f"{n - len(got)} of {n} acks dropped by the broker"
    finally:
        sender.close()
        server.close()
