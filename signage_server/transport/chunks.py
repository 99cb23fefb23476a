"""Server side of content pulls: answer each screen's byte-range requests on its own chunk topic."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from signage_core.mqtt_client import connect_client, make_client
from signage_core.protocol import (
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    SPECS,
    AssetRequest,
    BrokerParams,
    ChunkHeader,
    ProtocolError,
    TopicKind,
    all_screens_filter,
    asset_chunk_topic,
    decode,
    encode_frame,
    parse_screen_topic,
)

log = logging.getLogger(__name__)

MayFetch = Callable[[str, str], bool]
"""(screen_id, sha256) -> whether that screen's current manifest references the asset; thread-safe."""
PathFor = Callable[[str], Path | None]
"""sha256 -> the content-addressed file, or None when the server does not hold it."""


@dataclass(slots=True)
class ChunkStats:
    """Counters for health pages and for tests that prove nothing was sent twice."""

    requests: int = 0
    refused: int = 0
    bytes_sent: int = 0
    shed: int = 0  # dropped unread because `capacity` requests already waited (the disk is far behind)
    over_screen_limit: int = 0  # dropped because their screen already had `per_screen` requests waiting
    peak_queued: int = 0  # the most requests that ever waited at once: never above `capacity`


DEFAULT_CAPACITY = 4096
"""Requests that may wait for a disk read. A request that waits longer than the player's reply timeout (15 s)
is answered to nobody: the player has asked again by then. 4,096 chunks of 256 KiB are 1 GiB of reads,
~15 s at 70 MB/s, so a deeper queue would mostly hold work whose replies are thrown away; the waiting
requests themselves take ~1.5 MB (a topic and a ~150-byte request each)."""
DEFAULT_PER_SCREEN = 8
"""Requests one screen may have waiting: twice the player's window (4), because after a reply timeout the
player asks again while its earlier requests may still wait here."""
SHED_WARNING_INTERVAL_S = 10.0
"""At most one warning about dropped requests per interval: a flood must not turn into a flood of log lines."""

_Job = tuple[str, bytes]


class ChunkServer:
    """Subscribes to every screen's asset requests and replies with at most chunk_size bytes each.

    Requests wait in a bounded queue for the worker threads that read the disk. When `capacity` requests
    already wait, a new one is dropped (`stats.shed`) on the broker's network thread, which never blocks:
    blocking it would stall every screen's keepalives and requests, not only the flood. Fairness is a cap,
    `per_screen` requests waiting per screen (further ones are dropped, `stats.over_screen_limit`), rather
    than merging identical pending requests: the player asks again with a fresh request_id and ignores
    replies to the old one, so a merged request would have to be answered to the newest id; and a screen
    looping over different offsets (a bug, or someone holding its password) defeats any merging, while a cap
    bounds its share of the queue whatever it asks. A screen is its request topic: its broker account may
    publish on its own topic only. A dropped request gets no reply; the player asks again from its last good
    byte when no reply came within its reply timeout (`player_agent.transport.AssetFetcher`), and as it never
    asks more than twice its window ahead, a drop costs it at most that many chunks asked again.
    """

    def __init__(
        self,
        params: BrokerParams,
        *,
        may_fetch: MayFetch,
        path_for: PathFor,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        workers: int = 2,
        capacity: int = DEFAULT_CAPACITY,
        per_screen: int = DEFAULT_PER_SCREEN,
        on_reply: Callable[[str, ChunkHeader], None] | None = None,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size {chunk_size} must be between 1 and {MAX_CHUNK_SIZE} bytes")
        if workers < 1 or capacity < workers or per_screen < 1:
            # stop() hands each worker its end through the queue: it must hold one per worker.
            raise ValueError(f"need workers >= 1, capacity >= workers and per_screen >= 1, "
                             f"got {workers}, {capacity}, {per_screen}")
        self._params = params
        self._may_fetch = may_fetch
        self._path_for = path_for
        self.chunk_size = chunk_size
        self._on_reply = on_reply
        self.capacity = capacity
        self.per_screen = per_screen
        self.stats = ChunkStats()
        self._lock = threading.Lock()  # the stats and `_waiting`
        # Disk reads happen off the network thread so one slow read does not stall keepalives.
        self._jobs: queue.Queue[_Job | None] = queue.Queue(capacity)
        self._waiting: dict[str, int] = {}  # request topic -> its requests in `_jobs`; no zero entries
        self._unwarned = 0  # requests dropped since the last warning
        self._next_warning = 0.0
        self._workers = [
            threading.Thread(target=self._work, name=f"chunk-worker-{i}", daemon=True) for i in range(workers)
        ]
        self._subscribed = threading.Event()
        self._client = make_client(params, f"signage-chunks-{uuid.uuid4().hex[:8]}")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 30)

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect, subscribe, and start answering; raises if the subscription is not granted."""
        for worker in self._workers:
            worker.start()
        connect_client(self._client, self._params, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"chunk server could not subscribe to asset requests on {self._params.url()}")

    def stop(self) -> None:
        """Stop taking requests, finish none of the queued ones, disconnect."""
        self._client.disconnect()
        self._client.loop_stop()  # no request is queued after this: the network thread has ended
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        with self._lock:
            self._waiting.clear()
        for _ in self._workers:
            self._jobs.put_nowait(None)  # room for each: the queue is empty and capacity >= workers
        for worker in self._workers:
            if worker.is_alive():
                worker.join(5)

    def __enter__(self) -> ChunkServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("chunk server refused by broker: %s", reason)
            return
        # Subscribed here so a reconnect (e.g. after a broker restart) restores it.
        client.subscribe(all_screens_filter(TopicKind.ASSET_REQUEST), qos=SPECS[TopicKind.ASSET_REQUEST].qos)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: Any, props: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("chunk server subscription refused: %s", reasons)
            return
        self._subscribed.set()

    @property
    def queued(self) -> int:
        """Requests waiting for a worker now."""
        return self._jobs.qsize()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._admit(msg.topic, bytes(msg.payload))

    def _admit(self, topic: str, payload: bytes) -> None:
        """Queue a request unless its screen already has `per_screen` waiting or the queue is full; never blocks."""
        with self._lock:
            waiting = self._waiting.get(topic, 0)
            if waiting >= self.per_screen:
                self.stats.over_screen_limit += 1
            else:
                try:
                    self._jobs.put_nowait((topic, payload))
                except queue.Full:
                    self.stats.shed += 1
                else:
                    self._waiting[topic] = waiting + 1
                    self.stats.peak_queued = max(self.stats.peak_queued, self._jobs.qsize())
                    return
            dropped = self._dropped_to_report()
            shed, over = self.stats.shed, self.stats.over_screen_limit
        if dropped:
            log.warning("dropped %d chunk requests since the last warning (in all: %d with %d already waiting, "
                        "%d over %d waiting from one screen); their players ask again after their reply timeout",
                        dropped, shed, self.capacity, over, self.per_screen)

    def _dropped_to_report(self) -> int:
        """Count one dropped request; returns how many to warn about now (0: warned less than an interval ago)."""
        self._unwarned += 1
        now = time.monotonic()
        if now < self._next_warning:
            return 0
        self._next_warning = now + SHED_WARNING_INTERVAL_S
        dropped, self._unwarned = self._unwarned, 0
        return dropped

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                left = self._waiting.pop(job[0], 1) - 1  # absent: stop() cleared it meanwhile
                if left:
                    self._waiting[job[0]] = left
            try:
                self.handle(*job)
            except Exception:  # one bad request must not kill the worker
                log.exception("chunk request on %s failed", job[0])

    def handle(self, topic: str, payload: bytes) -> ChunkHeader | None:
        """Answer one request; the reply goes to the requesting screen's own chunk topic only."""
        try:
            screen_id, kind = parse_screen_topic(topic)
            if kind is not TopicKind.ASSET_REQUEST:
                raise ProtocolError(f"not an asset request topic: {topic}")
            request = decode(AssetRequest, payload)
        except ProtocolError as exc:
            # Without a parsable request there is no request_id to answer to.
            log.warning("ignored asset request on %s: %s", topic, exc)
            return None
        header, data = self._answer(screen_id, request)
        with self._lock:
            self.stats.requests += 1
            self.stats.bytes_sent += len(data)
            if header.error is not None:
                self.stats.refused += 1
        # Reported before sending, so whoever watches the counters never lags the player.
        if self._on_reply is not None:
            self._on_reply(screen_id, header)
        self._client.publish(
            asset_chunk_topic(screen_id), encode_frame(header, data), qos=SPECS[TopicKind.ASSET_CHUNK].qos
        )
        return header

    def _answer(self, screen_id: str, request: AssetRequest) -> tuple[ChunkHeader, bytes]:
        def refuse(reason: str, total: int = 0) -> tuple[ChunkHeader, bytes]:
            log.info("refused %s asset %s@%d: %s", screen_id, request.sha256, request.offset, reason)
            header = ChunkHeader(
                request_id=request.request_id,
                sha256=request.sha256,
                offset=request.offset,
                total_size=total,
                length=0,
                error=reason,
            )
            return header, b""

        if not self._may_fetch(screen_id, request.sha256):
            return refuse(f"asset {request.sha256} is not in screen {screen_id}'s current manifest")
        path = self._path_for(request.sha256)
        if path is None:
            return refuse(f"asset {request.sha256} is not stored on the server")
        try:
            with path.open("rb") as fh:
                total = fh.seek(0, 2)
                if request.offset > total:
                    return refuse(f"offset {request.offset} is past the end of the asset ({total} bytes)", total)
                fh.seek(request.offset)
                data = fh.read(min(request.length, self.chunk_size))
        except OSError as exc:
            log.error("cannot read asset %s at %s: %s", request.sha256, path, exc)
            return refuse(f"asset {request.sha256} cannot be read on the server")
        header = ChunkHeader(
            request_id=request.request_id,
            sha256=request.sha256,
            offset=request.offset,
            total_size=total,
            length=len(data),
        )
        return header, data
