"""MQTT transport benchmark: fan-out latency to 1,000 screens and chunk throughput, each beside a bare baseline.

Run: .venv/bin/python benchmarks/mqtt_fanout.py [--subscribers 1000] [--rounds 30] [--asset-mib 64]
Everything runs on loopback against a ManagedMosquitto in a temp dir on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import struct
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.limits import raise_open_files
from benchmarks.mqtt_baseline import pct, pipelined_publisher, publish_retained
from player_agent.transport import AssetFetcher, PlayerLink
from signage_core import protocol as p
from signage_core.mqtt_client import make_client
from signage_server.transport.accounts import DynsecAccounts, group_name
from signage_server.transport.broker import ManagedMosquitto
from signage_server.transport.chunks import ChunkServer

GROUP = "bench-all"
BARE_TOPIC = "bench/bare"

# ---------------------------------------------------------------- a minimal asyncio MQTT 3.1.1 subscriber
# paho needs a thread per client; 1,000 of them would measure the GIL, not the broker.


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def _packet(first: int, body: bytes) -> bytes:
    out = bytearray([first])
    n = len(body)
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + body


async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first = (await reader.readexactly(1))[0]
    mult, length = 1, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * mult
        mult *= 128
        if not byte & 0x80:
            break
    return first, await reader.readexactly(length)


async def _subscriber(
    port: int, username: str, password: str, topics: list[str], arrivals: asyncio.Queue[tuple[str, int, bytes]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        _packet(0x10, _utf8("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 0) + _utf8(p.screen_client_id(username)) + _utf8(username) + _utf8(password))
    )
    first, body = await _read_packet(reader)
    if first != 0x20 or body[1] != 0:
        raise RuntimeError(f"{username}: CONNACK refused ({body!r})")
    sub = struct.pack("!H", 1) + b"".join(_utf8(t) + bytes([1]) for t in topics)
    writer.write(_packet(0x82, sub))
    first, body = await _read_packet(reader)
    if first != 0x90 or any(code == 0x80 for code in body[2:]):
        raise RuntimeError(f"{username}: SUBACK refused ({body!r})")
    await arrivals.put(("ready", 0, b""))
    while True:
        first, body = await _read_packet(reader)
        if first >> 4 != 3:
            continue
        qos = (first >> 1) & 3
        tlen = struct.unpack("!H", body[:2])[0]
        topic = body[2 : 2 + tlen].decode()
        pos = 2 + tlen
        if qos:
            pid = body[pos : pos + 2]
            pos += 2
            writer.write(b"\x40\x02" + pid)
        now = time.monotonic_ns()
        payload = body[pos:]
        await arrivals.put((topic, now, payload))


async def _subscribers_main(port: int, creds: list[tuple[str, str]], conn: Connection) -> None:
    arrivals: asyncio.Queue[tuple[str, int, bytes]] = asyncio.Queue()
    tasks = []
    for i in range(0, len(creds), 50):  # connect in waves so the accept backlog does not overflow
        for username, password in creds[i : i + 50]:
            topics = [p.manifest_topic(username), p.group_alert_topic(GROUP), BARE_TOPIC]
            tasks.append(asyncio.create_task(_subscriber(port, username, password, topics, arrivals)))
        await asyncio.sleep(0.02)
    ready = 0
    while ready < len(creds):
        kind, _, _ = await arrivals.get()
        ready += kind == "ready"
    conn.send(("ready", len(creds)))
    loop = asyncio.get_running_loop()
    while True:
        expected = await loop.run_in_executor(None, conn.recv)
        if expected is None:
            break
        latencies: list[int] = []
        while len(latencies) < expected:
            topic, now, payload = await arrivals.get()
            if topic == BARE_TOPIC:
                sent = struct.unpack("!q", payload[:8])[0]
            else:
                # The signage path parses what it receives, as a player would before verifying it.
                envelope = p.decode_envelope(payload)
                body = envelope["payload"]
                assert isinstance(body, dict)
                sent = int(str(body["sent_ns"]))
            latencies.append(now - sent)
        conn.send(latencies)
    for task in tasks:
        task.cancel()


def _subscriber_process(port: int, creds: list[tuple[str, str]], conn: Connection) -> None:
    asyncio.run(_subscribers_main(port, creds, conn))


# ---------------------------------------------------------------- measurements


def _envelope(sent_ns: int, pad: int) -> bytes:
    # Shaped like a signed alert: payload object plus an Ed25519 signature and key id.
    return p.encode_envelope(
        {"payload": {"alert_id": "bench", "sent_ns": sent_ns, "text": "x" * pad}, "key_id": "k1", "sig": "A" * 88}
    )


def fanout(broker: ManagedMosquitto, n: int, rounds: int) -> dict[str, dict[str, float]]:
    with DynsecAccounts(broker.params(), timeout_s=60) as accounts:
        t0 = time.perf_counter()
        creds = accounts.add_screens([f"bench-{i:04d}" for i in range(n)], groups=[GROUP])
        enrol_s = time.perf_counter() - t0
        # The bare baseline topic: every bench screen may read it (same ACL machinery, no protocol).
        accounts.call("addRoleACL", rolename=group_name(GROUP), acltype="subscribeLiteral", topic=BARE_TOPIC, allow=True)
        accounts.call("addRoleACL", rolename=group_name(GROUP), acltype="publishClientReceive", topic=BARE_TOPIC, allow=True)
    parent, child = mp.Pipe()
    proc = mp.Process(target=_subscriber_process, args=(broker.port, [(c.username, c.password) for c in creds], child))
    t0 = time.perf_counter()
    proc.start()
    if not parent.poll(120):
        raise RuntimeError("subscribers did not connect in 120 s")
    parent.recv()
    connect_s = time.perf_counter() - t0

    pub = pipelined_publisher(broker.params(), "bench-publisher")
    results: dict[str, list[float]] = {"bare": [], "alert": [], "manifests": []}
    probe = _envelope(0, 400)
    pad = 400
    for r in range(rounds):
        paths = ("bare", "alert", "manifests")
        for path in paths[r % 3 :] + paths[: r % 3]:  # rotate so no path always goes first
            expected = n
            parent.send(expected)
            sent = time.monotonic_ns()
            if path == "bare":
                # Same size as the envelope, QoS 0, not retained, not parsed: the broker's floor.
                pub.publish(BARE_TOPIC, struct.pack("!q", sent) + b"x" * (len(probe) - 8), qos=0)
            elif path == "alert":
                pub.publish(p.group_alert_topic(GROUP), _envelope(sent, pad), qos=1, retain=True)
            else:
                # One retained manifest per screen: what a playlist change for every screen costs.
                publish_retained(pub, ((p.manifest_topic(c.username), _envelope(sent, pad)) for c in creds))
            if not parent.poll(60):
                raise RuntimeError(f"round {r} {path}: not all {n} subscribers received within 60 s")
            results[path] += [ns / 1e6 for ns in parent.recv()]
            time.sleep(0.05)
    parent.send(None)
    pub.disconnect()
    pub.loop_stop()
    proc.join(10)
    if proc.is_alive():
        proc.kill()
    out = {
        k: {"p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99), "max_ms": max(v), "samples": len(v)} for k, v in results.items()
    }
    out["setup"] = {"enrol_s": enrol_s, "connect_s": connect_s, "payload_bytes": len(probe)}
    return out


def chunk_throughput(broker: ManagedMosquitto, mib: int, workdir: Path) -> dict[str, float]:
    data = os.urandom(mib * 1024 * 1024)
    sha = hashlib.sha256(data).hexdigest()
    store = workdir / sha
    store.write_bytes(data)
    with DynsecAccounts(broker.params()) as accounts:
        creds = accounts.add_screen("bench-chunks")

    # Raw: the same bytes as 256 KiB QoS 1 messages, publisher to one subscriber, no protocol.
    got = threading.Event()
    received = [0]
    sub = make_client(broker.params(), "bench-raw-sub")
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()

    def on_message(client: object, userdata: object, msg: object) -> None:
        received[0] += len(msg.payload)  # type: ignore[attr-defined]
        if received[0] >= len(data):
            got.set()

    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.subscribe("bench/raw", qos=1)
    sub.loop_start()
    subscribed.wait(5)
    pub = make_client(broker.params(), "bench-raw-pub")
    pub.max_inflight_messages_set(20)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    size = p.DEFAULT_CHUNK_SIZE
    t0 = time.perf_counter()
    for off in range(0, len(data), size):
        pub.publish("bench/raw", data[off : off + size], qos=1)
    got.wait(120)
    raw_s = time.perf_counter() - t0
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()

    results: dict[str, float] = {"asset_mib": mib, "raw_mb_s": len(data) / raw_s / 1e6}
    with ChunkServer(broker.params(), may_fetch=lambda s, h: h == sha, path_for=lambda h: store if h == sha else None):
        link = PlayerLink(broker.params().with_credentials(creds.username, creds.password), "bench-chunks")
        link.start()
        link.wait_connected(10)
        for window in (1, 4, 8):
            partial = workdir / f"partial-{window}"
            t0 = time.perf_counter()
            AssetFetcher(link, window=window).fetch(sha, partial, timeout_s=300)
            results[f"chunks_window{window}_mb_s"] = len(data) / (time.perf_counter() - t0) / 1e6
            partial.unlink()
        link.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--asset-mib", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    raise_open_files(4 * args.subscribers + 256)  # broker and subscribers inherit it

    with tempfile.TemporaryDirectory() as tmp, ManagedMosquitto(Path(tmp) / "broker", port=0) as broker:
        fan = fanout(broker, args.subscribers, args.rounds)
        chunks = chunk_throughput(broker, args.asset_mib, Path(tmp))
    if args.json:
        print(json.dumps({"fanout": fan, "chunks": chunks}, indent=1))
        return
    s = fan.pop("setup")
    print(f"{args.subscribers} screens: enrolled in {s['enrol_s']:.1f} s, connected in {s['connect_s']:.1f} s; "
          f"payload {s['payload_bytes']:.0f} B; {args.rounds} rounds; cpus {os.cpu_count()}")
    print(f"{'path':<42}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'samples':>9}")
    labels = {
        "bare": "bare publish (QoS 0, plain topic)",
        "alert": "group alert (QoS 1 retained, parsed)",
        "manifests": f"{args.subscribers} per-screen manifests (QoS 1 ret.)",
    }
    for key, row in fan.items():
        print(f"{labels[key]:<42}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}{row['samples']:>9.0f}")
    print(f"chunk throughput, {chunks['asset_mib']:.0f} MiB asset: raw broker {chunks['raw_mb_s']:.0f} MB/s; "
          f"chunk protocol window 1 {chunks['chunks_window1_mb_s']:.0f} MB/s, window 4 {chunks['chunks_window4_mb_s']:.0f} MB/s, window 8 {chunks['chunks_window8_mb_s']:.0f} MB/s")
    print(f"overhead of the alert path vs bare: p50 {fan['alert']['p50_ms'] - fan['bare']['p50_ms']:+.1f} ms, "
          f"p99 {fan['alert']['p99_ms'] - fan['bare']['p99_ms']:+.1f} ms")


if __name__ == "__main__":
    main()
