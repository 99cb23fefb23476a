"""The player's MQTT link: presence, reconnect with jittered backoff, and resumable asset pulls."""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from signage_core.mqtt_client import BrokerTlsError, connect_client, make_client
from signage_core.protocol import (
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    SCREEN_TOPICS,
    SPECS,
    AssetRequest,
    BrokerParams,
    ChunkHeader,
    Party,
    ProtocolError,
    Status,
    TopicKind,
    check_id,
    decode_frame,
    encode,
    group_alert_topic,
    key_handovers_topic,
    parse_broker_url,
    screen_client_id,
    screen_topic,
)

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]
"""(topic, payload) for one incoming message; called on the network thread, so keep it short."""


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with equal jitter: after a power cut, a site's players do not reconnect in step."""

    base_s: float = 1.0
    cap_s: float = 120.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        """Half the current ceiling plus a random half: never zero, never in lockstep."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        """Start from base again after a successful connection."""
        self.attempt = 0


def broker_params(url: str, *, ca_file: Path | None = None, require_tls: bool = False) -> BrokerParams:
    """The enrolled broker URL with this site's CA; a plain URL where TLS is required is refused, never used."""
    base = parse_broker_url(url)
    if base.tls is None:
        if ca_file is not None or require_tls:
            setting = "[broker] ca_file" if ca_file is not None else "[broker] require_tls"
            raise ProtocolError(
                f"the enrolled broker URL {base.url()} is plain MQTT but this player requires TLS ({setting}): "
                "set SIGNAGE_MQTT_PUBLIC_URL=mqtts://... on the server and enrol again"
            )
        return base
    return parse_broker_url(url, ca_file=str(ca_file) if ca_file is not None else None)


class PlayerLink:
    """One screen's connection: retained online status, offline last will, subscriptions restored on connect."""

    def __init__(
        self,
        params: BrokerParams,
        screen_id: str,
        *,
        groups: Iterable[str] = (),
        agent_version: str | None = None,
        backoff: Backoff | None = None,
        keepalive_s: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_problem: Callable[[str | None], None] | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.screen_id = check_id(screen_id)
        self._params = params
        self._groups = {check_id(g, what="group") for g in groups}
        self._agent_version = agent_version
        self.backoff = backoff or Backoff()
        self._keepalive_s = keepalive_s
        self._clock = clock
        self._handlers: dict[TopicKind, list[Handler]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.connections = 0  # bumped on every successful CONNACK; fetchers use it to spot a reconnect
        self.last_refusal: str | None = None
        # Why the link is down when it is not just the network (TLS refused, account refused); None once connected.
        self.problem: str | None = None
        self._on_problem = on_problem
        self._on_connected = on_connected  # after each accepted CONNACK, subscriptions and status sent
        # Clean session: chunks in flight at a disconnect are dropped, not replayed after the resume;
        # PlayerLink reconnects itself, with jitter.
        self.client = make_client(params, screen_client_id(self.screen_id), reconnect_on_failure=False)
        offline = Status(screen_id=self.screen_id, state="offline", agent_version=agent_version)
        status = SPECS[TopicKind.STATUS]
        self.client.will_set(screen_topic(self.screen_id, TopicKind.STATUS), encode(offline), qos=status.qos, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # -- public API

    def on(self, kind: TopicKind, handler: Handler) -> None:
        """Register a handler for one kind of incoming message (manifest, command, alert, ...)."""
        with self._lock:
            self._handlers.setdefault(kind, []).append(handler)

    def start(self) -> None:
        """Run the connect/reconnect loop in a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.screen_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Say offline (a clean disconnect sends no last will) and end the loop."""
        self._stop.set()
        if self.connected.is_set():
            info = self.publish(TopicKind.STATUS, encode(Status(screen_id=self.screen_id, state="offline", at=self._clock(), agent_version=self._agent_version)))
            info.wait_for_publish(timeout=timeout_s)
        self.client.disconnect()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.connected.clear()

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups whose alert topics this link follows."""
        with self._lock:
            return tuple(sorted(self._groups))

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until connected (or the timeout), for start-up and for fetchers after a drop."""
        return self.connected.wait(timeout_s)

    def publish(self, kind: TopicKind, payload: bytes) -> mqtt.MQTTMessageInfo:
        """Publish on this screen's own topic of that kind, with the QoS and retain flag the protocol sets."""
        spec = SPECS[kind]
        if spec.publisher is not Party.SCREEN:
            raise ProtocolError(f"players do not publish {kind.value} messages")
        return self.client.publish(screen_topic(self.screen_id, kind), payload, qos=spec.qos, retain=spec.retained)

    def set_groups(self, groups: Iterable[str]) -> None:
        """Follow the groups the manifest names: subscribe to new alert topics, drop old ones."""
        new = {check_id(g, what="group") for g in groups}
        with self._lock:
            old, self._groups = self._groups, new
        if self.connected.is_set():
            for group in sorted(old - new):
                self.client.unsubscribe(group_alert_topic(group))
            for group in sorted(new - old):
                self.client.subscribe(group_alert_topic(group), qos=SPECS[TopicKind.GROUP_ALERT].qos)

    def drop_connection(self) -> None:
        """Cut the TCP link without a DISCONNECT, as a failing 4G modem would (tests, diagnostics)."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- internals

    def _subscriptions(self) -> list[tuple[str, int]]:
        subs = [(spec.topic(self.screen_id), spec.qos) for spec in SCREEN_TOPICS if spec.subscriber is Party.SCREEN]
        with self._lock:
            groups = sorted(self._groups)
        subs += [(group_alert_topic(g), SPECS[TopicKind.GROUP_ALERT].qos) for g in groups]
        subs.append((key_handovers_topic(), SPECS[TopicKind.KEY_HANDOVERS].qos))
        return subs

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connect_client(self.client, self._params, keepalive=self._keepalive_s)
                self.client.loop_forever(retry_first_connection=False)
            except BrokerTlsError as exc:
                # Retried with backoff over TLS only (a new certificate may be installed); never over plain MQTT.
                self._set_problem(str(exc))
            except OSError as exc:
                log.info("broker %s unreachable: %s", self._params.url(), exc)
            self.connected.clear()
            if self._stop.is_set():
                return
            delay = self.backoff.next_delay()
            log.info("reconnecting to %s in %.1fs", self._params.url(), delay)
            self._stop.wait(delay)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.last_refusal = str(reason)
            self._set_problem(f"broker {self._params.url()} refused screen {self.screen_id}: {reason}")
            return
        self.last_refusal = None
        self._set_problem(None)
        self.backoff.reset()
        # Subscribing here means every reconnect restores the subscriptions.
        client.subscribe(self._subscriptions())
        online = Status(screen_id=self.screen_id, state="online", at=self._clock(), agent_version=self._agent_version)
        self.publish(TopicKind.STATUS, encode(online))
        self.connections += 1
        self.connected.set()
        if self._on_connected is not None:
            self._on_connected()

    def _set_problem(self, problem: str | None) -> None:
        """Log a new problem once (not every retry) and tell the owner; None clears it."""
        if problem == self.problem:
            if problem is not None:
                log.debug("still failing: %s", problem)
            return
        self.problem = problem
        if problem is not None:
            log.error("%s", problem)
        if self._on_problem is not None:
            self._on_problem(problem)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        kind = self._kind_of(msg.topic)
        if kind is None:
            log.warning("message on unexpected topic %s ignored", msg.topic)
            return
        with self._lock:
            handlers = list(self._handlers.get(kind, ()))
        for handler in handlers:
            try:
                handler(msg.topic, bytes(msg.payload))
            except Exception:  # a bad payload must not take the link down
                log.exception("handler for %s failed", msg.topic)

    def _kind_of(self, topic: str) -> TopicKind | None:
        for spec in SCREEN_TOPICS:
            if spec.subscriber is Party.SCREEN and topic == spec.topic(self.screen_id):
                return spec.kind
        with self._lock:
            groups = set(self._groups)
        if any(topic == group_alert_topic(g) for g in groups):
            return TopicKind.GROUP_ALERT
        if topic == key_handovers_topic():
            return TopicKind.KEY_HANDOVERS
        return None


class AssetFetchError(RuntimeError):
    """The server refused the asset, or it could not be fetched in time; the partial file is kept."""


class AssetCorrupt(AssetFetchError):
    """The bytes did not hash to the asset's sha256; the partial file was emptied."""


@dataclass(slots=True)
class _Progress:
    offset: int
    total: int | None
    inflight: dict[str, int] = field(default_factory=dict)
    buffered: dict[int, bytes] = field(default_factory=dict)
    next_offset: int = 0


class AssetFetcher:
    """Pulls one asset at a time into a caller-given partial file, resuming from its size."""

    def __init__(
        self,
        link: PlayerLink,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        window: int = 4,
        reply_timeout_s: float = 15.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size {chunk_size} must be between 1 and {MAX_CHUNK_SIZE}")
        if window < 1:
            raise ValueError("window must be at least 1")
        self._link = link
        self.chunk_size = chunk_size
        self.window = window
        self.reply_timeout_s = reply_timeout_s
        self._on_progress = on_progress
        self._sent_at = 0.0
        self._request_len = chunk_size
        self._replies: queue.Queue[tuple[ChunkHeader, bytes]] = queue.Queue()
        self._one_at_a_time = threading.Lock()
        link.on(TopicKind.ASSET_CHUNK, self._on_chunk)

    def _on_chunk(self, topic: str, payload: bytes) -> None:
        try:
            self._replies.put(decode_frame(ChunkHeader, payload))
        except ProtocolError as exc:
            log.warning("bad chunk frame dropped: %s", exc)

    def fetch(self, sha256: str, partial: Path, *, timeout_s: float = 600.0, expected_size: int | None = None) -> int:
        """Fill `partial` until it holds the whole asset and its sha256 matches; returns the size."""
        with self._one_at_a_time:
            deadline = time.monotonic() + timeout_s
            fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                size = self._download(fd, sha256, deadline, expected_size)
                self._verify(fd, sha256, partial)
                return size
            finally:
                os.close(fd)

    def _download(self, fd: int, sha256: str, deadline: float, expected_size: int | None) -> int:
        start = os.fstat(fd).st_size
        if expected_size is not None and start > expected_size:
            os.ftruncate(fd, 0)  # a partial longer than the asset is garbage
            start = 0
        p = _Progress(offset=start, total=expected_size, next_offset=start)
        seen_connection = -1
        while p.total is None or p.offset < p.total:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssetFetchError(f"asset {sha256}: timed out at {p.offset} of {p.total or '?'} bytes")
            if not self._link.connected.is_set() or self._link.connections != seen_connection:
                # New session: replies to old requests are gone, so ask again from the last good byte.
                if not self._link.wait_connected(min(left, 1.0)):
                    continue
                seen_connection = self._link.connections
                p.inflight.clear()
                p.buffered.clear()
                p.next_offset = p.offset
            self._fill_window(sha256, p)
            try:
                header, data = self._replies.get(timeout=min(left, 0.25))
            except queue.Empty:
                if self._stalled(p):
                    log.info("asset %s: no reply in %.0fs, asking again from %d", sha256, self.reply_timeout_s, p.offset)
                    p.inflight.clear()
                    p.buffered.clear()
                    p.next_offset = p.offset
                continue
            self._accept(fd, sha256, p, header, data, expected_size)
        return p.offset

    def _fill_window(self, sha256: str, p: _Progress) -> None:
        # Until the first reply gives the size, one request at a time.
        limit = self.window if p.total is not None else 1
        # Never ask further than twice the window past the last good byte: when a reply never comes (the
        # server shed the request under load) the chunks beyond the gap wait in memory and are asked again
        # after the reply timeout, so this bounds both; twice, so replies out of order do not stall the window.
        ahead = p.offset + 2 * limit * self._request_len
        while len(p.inflight) < limit and (p.total is None or p.next_offset < p.total) and p.next_offset < ahead:
            request = AssetRequest(
                request_id=uuid.uuid4().hex, sha256=sha256, offset=p.next_offset, length=self._request_len
            )
            self._link.publish(TopicKind.ASSET_REQUEST, encode(request))
            p.inflight[request.request_id] = request.offset
            self._sent_at = time.monotonic()
            p.next_offset += self._request_len

    def _stalled(self, p: _Progress) -> bool:
        return bool(p.inflight) and time.monotonic() - self._sent_at > self.reply_timeout_s

    def _accept(
        self, fd: int, sha256: str, p: _Progress, header: ChunkHeader, data: bytes, expected_size: int | None
    ) -> None:
        asked_offset = p.inflight.pop(header.request_id, None)
        if asked_offset is None:
            return  # a late reply to a request from before a reconnect or timeout
        self._sent_at = time.monotonic()
        if header.error is not None and not (p.total is None and 0 < header.total_size < asked_offset):
            raise AssetFetchError(f"server refused asset {sha256}: {header.error}")
        if header.sha256 != sha256 or header.offset != asked_offset:
            raise AssetFetchError(f"asset {sha256}: reply for {header.sha256}@{header.offset} does not match the request")
        if expected_size is not None and header.total_size != expected_size:
            raise AssetFetchError(f"asset {sha256}: server says {header.total_size} bytes, manifest says {expected_size}")
        if p.total is None:
            p.total = header.total_size
            if p.offset > p.total:  # the server refuses such a range but tells us the real size
                # Longer than the asset: not our bytes. Start over from zero.
                log.warning("asset %s: partial file longer than the asset; starting again", sha256)
                os.ftruncate(fd, 0)
                p.offset, p.next_offset = 0, 0
                p.inflight.clear()
                p.buffered.clear()
                return
        if header.length == 0 and header.offset < p.total:
            raise AssetFetchError(f"asset {sha256}: empty chunk at {header.offset} of {p.total}")
        p.buffered[header.offset] = data
        short = header.offset + header.length < min(asked_offset + self._request_len, p.total)
        while p.offset in p.buffered and p.offset < p.total:
            chunk = p.buffered.pop(p.offset)
            os.pwrite(fd, chunk, p.offset)
            # fsync per chunk: after a power cut the file size is a byte count we really hold.
            os.fsync(fd)
            p.offset += len(chunk)
            if self._on_progress is not None:
                self._on_progress(p.offset, p.total)
        if short:
            # The server caps chunks below what we asked: ask for its size from the last good byte.
            self._request_len = header.length
            p.inflight.clear()
            p.buffered.clear()
            p.next_offset = p.offset

    def _verify(self, fd: int, sha256: str, partial: Path) -> None:
        digest = hashlib.sha256()
        os.lseek(fd, 0, os.SEEK_SET)
        while block := os.read(fd, 1024 * 1024):
            digest.update(block)
        if digest.hexdigest() != sha256:
            os.ftruncate(fd, 0)
            raise AssetCorrupt(f"{partial} hashed to {digest.hexdigest()}, expected {sha256}; emptied it to fetch again")
