"""Urgent alert benchmark: HTTP launch -> signed alert on a group topic -> N players verify and ack -> stored.

Run: .venv/bin/python benchmarks/alerts.py [--players 200] [--rounds 5] [--verify-once]
The whole server (app, its managed Mosquitto, SQLite in a temp dir) runs in this process on loopback;
the players are light paho clients in worker processes (250 each), each verifying the Ed25519 signature
before acking. Latency per screen = server receipt of the ack - the launch instant the alert carries
(issued_at); the wall time runs from the HTTP launch until every ack is in the database. The baseline,
measured in the same run on the same broker and players: one bare message to the group until all acks
reach one plain subscriber (no signing, no verification, no database).

Each round is split into stages on one wall clock (all processes share the machine's): HTTP launch ->
publish returned -> player receives -> player verified -> ack published -> server hub receives -> ack
committed. --verify-once makes each worker process check the Ed25519 signature once per distinct envelope
(the per-screen checks still run for every player), to tell the server's share from the simulated players' CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from benchmarks.limits import raise_open_files
from signage_core.mqtt_client import make_client
from signage_core.protocol import (
    AlertAck,
    BrokerParams,
    TopicKind,
    alert_ack_topic,
    all_screens_filter,
    encode,
    group_alert_topic,
)
from signage_core.signing import (
    EnvelopeHeader,
    EnvelopeKind,
    PublicKey,
    Rejection,
    TrustStore,
    VerificationError,
    verify_envelope,
)
from signage_server.alerts.models import AlertTarget, AlertTemplate
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, saved_id, upgrade_to_head
from signage_server.manifests.keys import KeyRing
from signage_server.screens import service as screens
from signage_server.screens.models import Enrolment
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import ManagedMosquitto, free_port
from signage_server.transport.ids import group_wire_id, screen_wire_id
from signage_server.transport.reports import Report
from signage_server.transport.service import TransportService
from signage_server.users.models import Role, User
from signage_server.users.service import create_api_token

SECRET = "bench-secret-" + "x" * 40
RAW = b"raw:"
PLAYERS_PER_PROCESS = 250  # paho's loop uses select(): file descriptors past 1,024 fail in one process


class Player:
    """Just enough of a player: verify the alert it is sent, ack it with a frame hash."""

    def __init__(self, params: BrokerParams, wire_id: str, group: str, trust: TrustStore, counter: list[int],
                 times: list[tuple[str, float, float, float]], verified: dict[bytes, tuple[EnvelopeHeader, Any]] | None) -> None:
        self.params, self.wire_id, self.group, self.trust, self.counter = params, wire_id, group, trust, counter
        self.times = times  # (alert id, received, verified, ack published) per alert shown, time.time()
        self.verified = verified  # --verify-once: this process's headers by envelope bytes
        self.ready = threading.Event()
        self.client = make_client(params, f"screen-{wire_id}")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.last_version: int | None = None

    def start(self) -> None:
        self.client.connect(self.params.host, self.params.port, keepalive=60)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(group_alert_topic(self.group), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        t_recv = time.time()
        if not msg.payload:
            return  # a cleared retained slot
        if msg.payload.startswith(RAW):  # the baseline round: answer at once, nothing verified or stored
            ack = AlertAck(alert_id=msg.payload[len(RAW):].decode(), frame_hash=hashlib.sha256(msg.payload).hexdigest(),
                           shown_at=datetime.now(UTC))
            client.publish(alert_ack_topic(self.wire_id), encode(ack), qos=1)
            return
        try:
            header, body = self._verify(bytes(msg.payload))
        except VerificationError:
            self.counter[1] += 1
            return
        t_verified = time.time()
        self.last_version = header.version
        if body["action"] != "show":
            return
        frame = hashlib.sha256(msg.payload).hexdigest()  # stands in for the hash of the drawn frame
        ack = AlertAck(alert_id=str(body["alert_id"]), frame_hash=frame, shown_at=datetime.now(UTC))
        client.publish(alert_ack_topic(self.wire_id), encode(ack), qos=1)
        self.counter[0] += 1
        self.times.append((ack.alert_id, t_recv, t_verified, time.time()))

    def _verify(self, payload: bytes) -> tuple[EnvelopeHeader, Any]:
        """The player's full check; with --verify-once the signature of an envelope seen before is not checked again."""
        now = datetime.now(UTC)
        seen = self.verified.get(payload) if self.verified is not None else None
        if seen is None:
            verified = verify_envelope(payload, trust=self.trust, expected_kind=EnvelopeKind.ALERT,
                                       screen_id=self.wire_id, last_version=self.last_version, now=now)
            if self.verified is not None:
                self.verified[payload] = (verified.header, verified.body)
            return verified.header, verified.body
        header, body = seen
        # The per-screen checks verify_envelope makes after the signature, for this player.
        if not header.addresses(self.wire_id):
            raise VerificationError(Rejection.WRONG_SCREEN, self.wire_id)
        if now >= header.expires_at:
            raise VerificationError(Rejection.EXPIRED, header.expires_at.isoformat())
        if self.last_version is not None and header.version <= self.last_version:
            raise VerificationError(Rejection.STALE_VERSION, str(header.version))
        return header, body


def _players(params: BrokerParams, creds: list[tuple[str, str]], group: str, key: PublicKey, conn: Connection,
             verify_once: bool) -> None:
    """A worker process holding some of the players; says how many subscribed, then counters and times at the end."""
    counter = [0, 0]  # acks sent, envelopes refused
    times: list[tuple[str, float, float, float]] = []
    trust = TrustStore.of(key)
    cache: dict[bytes, tuple[EnvelopeHeader, Any]] | None = {} if verify_once else None
    players = [Player(params.with_credentials(u, pw), u, group, trust, counter, times, cache) for u, pw in creds]
    for player in players:
        player.start()
    deadline = time.monotonic() + 120
    for player in players:
        player.ready.wait(max(0.0, deadline - time.monotonic()))
    conn.send(sum(p.ready.is_set() for p in players))
    cpu0 = time.process_time()
    conn.recv()  # stop
    cpu = time.process_time() - cpu0  # this process's CPU over the rounds and the baseline
    for player in players:
        player.client.disconnect()
        player.client.loop_stop()
    conn.send((counter, times, cpu))


@dataclass(frozen=True)
class Round:
    alert_id: str
    launched: float  # time.time() before the HTTP launch
    published: float  # publish_alert returned
    answered: float  # HTTP response (the launch's transaction committed)
    received: set[float]  # the server hub's receipt of each ack (acked_at)


def _ms(values: list[float]) -> str:
    values = sorted(values)
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:.0f} / {values[-1] * 1000:.0f}"


def print_stages(rounds: list[Round], times: list[tuple[str, float, float, float]],
                 stored: list[tuple[float, list[str]]]) -> None:
    """Where a round's time goes, one wall clock for every process: median over rounds of each stage."""
    stage: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        stage.setdefault(name, []).append(value)

    for rnd in rounds:
        mine = [t for t in times if t[0] == rnd.alert_id]
        if not mine:
            continue
        recv = sorted(t[1] for t in mine)
        acked = sorted(t[3] for t in mine)
        commits = [at for at, ids in stored if rnd.alert_id in ids]
        add("HTTP launch -> publish returned", rnd.published - rnd.launched)
        add("publish returned -> launch committed (HTTP answered)", rnd.answered - rnd.published)
        add("publish returned -> first player received", recv[0] - rnd.published)
        add("publish returned -> last player received", recv[-1] - rnd.published)
        add("player verify (Ed25519 + checks), median per player", statistics.median(t[2] - t[1] for t in mine))
        add("player verify, slowest player", max(t[2] - t[1] for t in mine))
        add("player received -> ack published, median", statistics.median(t[3] - t[1] for t in mine))
        add("last player received -> last ack published", acked[-1] - recv[-1])
        if rnd.received:
            add("last ack published -> last ack received by the hub", max(rnd.received) - acked[-1])
        if commits and rnd.received:
            add("last ack received by the hub -> last ack committed", max(commits) - max(rnd.received))
            add("HTTP launch -> last ack committed", max(commits) - rnd.launched)
    print(f"stages, median over {len(rounds)} rounds (ms; where two figures: median / max over rounds):")
    for name, values in stage.items():
        print(f"  {name:<58} {_ms(values)}")


def _with_broker_lines(*extra: str) -> None:
    """Experiment only: add lines to the managed broker's generated configuration."""
    original = ManagedMosquitto._config_text

    def config_text(self: ManagedMosquitto, plugin: str) -> str:
        return original(self, plugin) + "".join(f"{line}\n" for line in extra)

    ManagedMosquitto._config_text = config_text  # type: ignore[method-assign]


def raw_round_trip(params: BrokerParams, group: str, wires: list[str], n: int) -> float:
    """Baseline, same broker and players: one bare message to the group, until all their acks reach one subscriber."""
    got: set[str] = set()
    done, subscribed = threading.Event(), threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if f'"raw-{n}"'.encode() in msg.payload:
            got.add(msg.topic)
            if len(got) == len(wires):
                done.set()

    client = make_client(params, f"bench-raw-{n}")
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(params.host, params.port)
    client.loop_start()
    client.subscribe(all_screens_filter(TopicKind.ALERT_ACK), qos=1)
    subscribed.wait(10)
    t0 = time.perf_counter()
    client.publish(group_alert_topic(group), RAW + f"raw-{n}".encode(), qos=1)
    ok = done.wait(30)
    elapsed = time.perf_counter() - t0
    client.disconnect()
    client.loop_stop()
    if not ok:
        raise SystemExit(f"raw baseline: only {len(got)} of {len(wires)} acks")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--verify-once", action="store_true",
                        help="each worker process checks a distinct envelope's signature once (cached by its bytes)")
    parser.add_argument("--broker-max-inflight", type=int, default=None,
                        help="experiment: mosquitto's max_inflight_messages (default 20) for the managed broker")
    args = parser.parse_args()
    if args.broker_max_inflight is not None:
        _with_broker_lines(f"max_inflight_messages {args.broker_max_inflight}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    # Each player holds a socket and paho's wake-up pair, the broker one socket per player: 1,024 is too few.
    raise_open_files(4 * args.players + 512)
    root = Path(tempfile.mkdtemp(prefix="signage-alert-bench-"))
    engine = make_engine(f"sqlite:///{root / 'signage.db'}")
    upgrade_to_head(engine)
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as s:
        # Not a valid argon2 hash: these accounts can only use the API token made below.
        no_login = "!"
        approver = User(username="approver", display_name="A", role=Role.APPROVER, languages=[],
                        password_hash=no_login, created_at=now)
        admin = User(username="admin", display_name="B", role=Role.ADMIN, languages=[], password_hash=no_login,
                     created_at=now)
        s.add(approver)
        s.add(admin)
        s.flush()
        token, _ = create_api_token(s, actor=approver, name="bench", secret=SECRET, now=now)
        site = screens.create_site(s, actor=admin, slug="bench", name="Bench", now=now)
        group = screens.create_group(s, actor=admin, name="bench-all", now=now)
        screen_ids = []
        for i in range(args.players):
            scr = screens.create_screen(s, actor=admin, fields={
                "site_id": site.id, "name": f"bench-{i:04d}", "width_px": 192, "height_px": 96,
                "pixel_pitch_mm": 5, "languages": ["vi", "en", "km"], "group_ids": [group.id]}, now=now)
            scr.enrolment = Enrolment.ENROLLED
            screen_ids.append(saved_id(scr))
        template_id = s.exec(select(AlertTemplate.id).where(AlertTemplate.key == "border-closure")).one()
        group_id = saved_id(group)
        s.commit()

    settings = Settings(data_dir=root / "var", secret_key=SECRET, migrate_on_start=False, mqtt_port=free_port(),
                        mqtt_bind_host="127.0.0.1")
    app = create_app(settings, engine=engine)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as http:
        transport: TransportService = app.state.transport
        assert transport.accounts is not None and transport.params is not None
        wire_group = group_wire_id(group_id)
        # Its own admin connection with a long timeout: dynsec rewrites its whole file per command, so the
        # last hundred of 1,000 accounts take ~10 s (docs/benchmarks.md, "Enrolment").
        with DynsecAccounts(transport.params, timeout_s=600) as setup:
            t_enrol = time.perf_counter()
            creds = setup.add_screens([screen_wire_id(i) for i in screen_ids], groups=[wire_group])
            enrol_s = time.perf_counter() - t_enrol
        key = KeyRing(settings.data_dir).current().public_key
        ctx = mp.get_context("spawn")  # not fork: this process runs the server's threads
        workers: list[tuple[Any, Connection]] = []
        t_connect = time.perf_counter()
        for start in range(0, len(creds), PLAYERS_PER_PROCESS):
            parent, child = ctx.Pipe()
            part = [(c.username, c.password) for c in creds[start:start + PLAYERS_PER_PROCESS]]
            proc = ctx.Process(target=_players, args=(transport.params, part, wire_group, key, child,
                                                         args.verify_once), daemon=True)
            proc.start()
            workers.append((proc, parent))
        ready = sum(conn.recv() for _, conn in workers)
        connect_s = time.perf_counter() - t_connect
        if ready != args.players:
            raise SystemExit(f"only {ready} of {args.players} players subscribed in {connect_s:.0f} s")

        published: list[float] = []  # time.time() when each publish_alert returned (the launch's publish)
        original_publish = transport.publish_alert

        def timed_publish(group: str, payload: bytes) -> None:
            original_publish(group, payload)
            published.append(time.time())

        transport.publish_alert = timed_publish  # type: ignore[method-assign]
        stored: list[tuple[float, list[str]]] = []  # (commit returned, alert ids acked in that batch)
        writer_obj = transport.reports
        original_store = writer_obj._store_together

        def timed_store(batch: Sequence[Report], early: list[Report]) -> list[tuple[str, list[str]]]:
            out = original_store(batch, early)
            held = {id(r) for r in early}  # not stored yet: their launch had not committed
            stored.append((time.time(), [r.body.alert_id for r in batch
                                         if isinstance(r.body, AlertAck) and id(r) not in held]))
            return out

        writer_obj._store_together = timed_store  # type: ignore[method-assign]
        rounds: list[Round] = []
        latencies: list[int] = []
        walls: list[float] = []
        short: list[str] = []
        cpu0 = time.process_time()
        for _ in range(args.rounds):
            del published[:]
            launched = time.time()
            t0 = time.perf_counter()
            r = http.post("/api/v1/alerts", headers=headers, json={
                "template_id": template_id, "group_ids": [group_id],
                "expires_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat()})
            r.raise_for_status()
            answered = time.time()  # the launch's transaction is committed before the response
            alert_id = r.json()["id"]
            deadline = time.monotonic() + 60
            while True:
                with Session(engine) as s:
                    done = s.exec(select(func.count()).select_from(AlertTarget).where(
                        AlertTarget.alert_id == alert_id, AlertTarget.acked_at.is_not(None))).one()  # type: ignore[union-attr]
                if done == args.players or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            walls.append(time.perf_counter() - t0)
            body = http.get(f"/api/v1/alerts/{alert_id}", headers=headers).json()
            if body["confirmed"] != args.players:  # reported, not hidden: the round's wall time is then the wait
                short.append(f"alert {alert_id}: {body['confirmed']} of {args.players} confirmed within 60 s")
            latencies.extend(t["latency_ms"] for t in body["targets"] if t["latency_ms"] is not None)
            rounds.append(Round(str(alert_id), launched, published[0] if published else answered, answered,
                                {datetime.fromisoformat(t["acked_at"]).timestamp() for t in body["targets"]
                                 if t["acked_at"]}))
            http.post(f"/api/v1/alerts/{alert_id}/withdraw", headers=headers).raise_for_status()
            time.sleep(0.3)  # let the withdrawal reach everyone before the next launch
        raw = [raw_round_trip(transport.params, wire_group, [c.username for c in creds], n)
               for n in range(args.rounds)]
        server_cpu = time.process_time() - cpu0
        counter = [0, 0]
        times: list[tuple[str, float, float, float]] = []
        player_cpu = 0.0
        for proc, conn in workers:
            conn.send("stop")
            (sent, refused), part_times, cpu = conn.recv()
            counter[0] += sent
            counter[1] += refused
            times.extend(part_times)
            player_cpu += cpu
            proc.join(30)
        writer = transport.reports.stats

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(f"players={args.players} rounds={args.rounds} acks={len(latencies)} refused={counter[1]} "
          f"(accounts made in {enrol_s:.1f} s, players subscribed in {connect_s:.1f} s)")
    print(f"launch->ack stored latency: p50={statistics.median(latencies):.0f} ms p99={p99} ms max={latencies[-1]} ms")
    print(f"launch->all {args.players} acks in the DB (wall, per round): median={statistics.median(walls) * 1000:.0f} ms "
          f"max={max(walls) * 1000:.0f} ms")
    print(f"raw baseline, same broker and players: one bare QoS 1 message to the group -> all {args.players} acks at "
          f"one subscriber: median={statistics.median(raw) * 1000:.0f} ms max={max(raw) * 1000:.0f} ms")
    print(f"report writer: {writer.reports} reports in {writer.batches} transactions (largest {writer.largest_batch})")
    print(f"CPU over the rounds and the baseline: server process {server_cpu:.1f} s, player processes {player_cpu:.1f} s "
          f"({'signature checked once per envelope per process' if args.verify_once else 'every player verifies'})")
    print_stages(rounds, times, stored)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for line in short:
        print("INCOMPLETE:", line)
    print("target: last ack stored <= 250 ms:", "met" if statistics.median(walls) <= 0.25 and not short else "MISSED")


if __name__ == "__main__":
    main()
