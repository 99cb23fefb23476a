"""What the fan-out benches share: a plain throwaway Mosquitto, a pipelined publisher, percentiles.

The plain broker is the naive baseline: no dynsec, no ACLs, no persistence, so the time a message takes
through it is Mosquitto's and paho's alone, and a bench can print the project's figure beside it.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt

from signage_core.mqtt_client import make_client
from signage_core.protocol import BrokerParams
from signage_server.transport.broker import find_mosquitto, free_port

# The server's hub allows this many unacknowledged QoS 1 publishes (signage_server/transport/hub.py).
INFLIGHT = 100


def pct(values: list[float], q: float) -> float:
    """The q-quantile by rank (no interpolation): with few samples p99 is the slowest one, not a blend."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def plain_config(port: int, log: Path) -> str:
    """Anonymous, in memory, one loopback listener; TCP_NODELAY as the managed broker has, so Nagle is no difference."""
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "set_tcp_nodelay true",
        f"log_dest file {log}",
        "log_type error",
        "log_type warning",
    ]
    if os.geteuid() == 0:
        lines.append(f"user {getpass.getuser()}")  # as root, mosquitto would drop to a user who cannot write `log`
    return "\n".join(lines) + "\n"


@contextmanager
def plain_mosquitto(root: Path, timeout_s: float = 10.0) -> Iterator[BrokerParams]:
    """A throwaway Mosquitto on a free port with `plain_config`, ended on exit; yields where to connect."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "mosquitto.conf"
    config.write_text(plain_config(port, root / "mosquitto.log"))
    proc = subprocess.Popen([find_mosquitto(), "-c", str(config)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_accepting(port, proc, root / "mosquitto.log", timeout_s)
        yield BrokerParams("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_accepting(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"plain mosquitto exited with code {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"plain mosquitto not accepting on port {port} after {timeout_s} s; see {log}")


def pipelined_publisher(params: BrokerParams, client_id: str) -> mqtt.Client:
    """A connected publisher with its network thread running, as many QoS 1 in flight as the server's hub."""
    pub = make_client(params, client_id)
    pub.max_inflight_messages_set(INFLIGHT)
    pub.connect(params.host, params.port)
    pub.loop_start()
    return pub


def publish_retained(pub: mqtt.Client, items: Iterable[tuple[str, bytes]], timeout_s: float = 60.0) -> None:
    """One retained QoS 1 message per topic, all sent before any ack is awaited, as the hub publishes manifests."""
    sent = [(topic, pub.publish(topic, payload, qos=1, retain=True)) for topic, payload in items]
    for topic, info in sent:
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise RuntimeError(f"broker did not acknowledge {topic} within {timeout_s} s")
