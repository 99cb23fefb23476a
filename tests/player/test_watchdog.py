"""sd_notify over a real unix datagram socket, as systemd receives it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from player_agent.watchdog import Notifier, watchdog_interval


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, str(path)
    sock.close()


def test_ready_watchdog_status_arrive(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("playing manifest 12")
    assert sock.recv(4096) == b"READY=1\nSTATUS=playing manifest 12"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.status("offline\nsince 07:00")
    assert sock.recv(4096) == b"STATUS=offline since 07:00"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_socket() -> None:
    name = f"signage-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        assert Notifier(f"@{name}").watchdog()
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_without_systemd_it_is_a_quiet_no_op() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready()


def test_vanished_socket_reports_failure(tmp_path: Path) -> None:
    assert not Notifier(str(tmp_path / "gone.sock")).watchdog()


def test_bad_socket_address_is_named() -> None:
    with pytest.raises(ValueError, match="NOTIFY_SOCKET"):
        Notifier("relative/path")


def test_watchdog_interval_is_half_of_watchdog_sec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "41"}, pid=42) is None
    assert watchdog_interval({}) is None
    with pytest.raises(ValueError, match="WATCHDOG_USEC"):
        watchdog_interval({"WATCHDOG_USEC": "0"})
