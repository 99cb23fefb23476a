"""Server side of content pulls: answer each screen's byte-range requests on its own chunk topic."""

from __future__ import annotations

import logging
import queue
import threading
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


class ChunkServer:
    """Subscribes to every screen's asset requests and replies with at most chunk_size bytes each."""

    def __init__(
        self,
        params: BrokerParams,
        *,
        may_fetch: MayFetch,
        path_for: PathFor,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        workers: int = 2,
        on_reply: Callable[[str, ChunkHeader], None] | None = None,
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size {chunk_size} must be between 1 and {MAX_CHUNK_SIZE} bytes")
        self._params = params
        self._may_fetch = may_fetch
        self._path_for = path_for
        self.chunk_size = chunk_size
        self._on_reply = on_reply
        self.stats = ChunkStats()
        self._stats_lock = threading.Lock()
        # Disk reads happen off the network thread so one slow read does not stall keepalives.
        self._jobs: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
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
        self._client.loop_stop()
        for _ in self._workers:
            self._jobs.put(None)
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

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._jobs.put((msg.topic, bytes(msg.payload)))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
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
        with self._stats_lock:
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
