"""The chunk server under a request flood faster than its disk: bounded backlog, no screen starved."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from player_agent.transport import AssetFetcher, Backoff, PlayerLink
from signage_core import protocol as p
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import ManagedMosquitto
from signage_server.transport.chunks import ChunkServer
from tests.broker_fixtures import RawClient, unique_id

pytestmark = pytest.mark.broker

SHA = "ab" * 32


class SlowDisk:
    """`path_for` that holds every worker until `release()`: a disk far behind the requests."""

    def __init__(self, asset: Path) -> None:
        self.asset = asset
        self.gate = threading.Event()
        self.entered = 0
        self._lock = threading.Lock()

    def path_for(self, sha256: str) -> Path:
        with self._lock:
            self.entered += 1
        self.gate.wait(30)
        return self.asset

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SlowDisk]:
    asset = tmp_path / "asset"
    asset.write_bytes(b"z" * 1000)
    slow = SlowDisk(asset)
    yield slow
    slow.release()  # never leave a worker parked on a failed test


@pytest.fixture
def screens(broker: ManagedMosquitto, accounts: DynsecAccounts) -> Iterator[Callable[[], RawClient]]:
    """Connects screens listening on their own chunk topic; closes them after the test."""
    made: list[RawClient] = []

    def connect() -> RawClient:
        screen_id = unique_id()
        creds = accounts.add_screen(screen_id)
        client = RawClient(broker.params().with_credentials(creds.username, creds.password))
        assert not client.connect().is_failure
        assert client.subscribe(p.asset_chunk_topic(screen_id))
        made.append(client)
        return client

    yield connect
    for client in made:
        client.close()


def ask(screen: RawClient, offset: int = 0) -> str:
    """Publish one asset request from this screen; returns its request id."""
    request_id = uuid.uuid4().hex
    request = p.AssetRequest(request_id=request_id, sha256=SHA, offset=offset, length=10)
    screen.publish(p.asset_request_topic(screen_id_of(screen)), p.encode(request))
    return request_id


def screen_id_of(screen: RawClient) -> str:
    assert screen.params.username is not None
    return screen.params.username


def replies(screen: RawClient, quiet_s: float = 1.0) -> list[str]:
    """Request ids of the replies this screen gets until none came for `quiet_s`."""
    got: list[str] = []
    while (msg := screen.receive(timeout=quiet_s)) is not None:
        header, _ = p.decode_frame(p.ChunkHeader, bytes(msg.payload))
        got.append(header.request_id)
    return got


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.02)


def test_flood_beyond_capacity_is_shed_and_the_server_answers_after(
    broker: ManagedMosquitto, disk: SlowDisk, screens: Callable[[], RawClient], caplog: pytest.LogCaptureFixture
) -> None:
    fleet = [screens() for _ in range(5)]
    with ChunkServer(broker.params(), may_fetch=lambda s, h: True, path_for=disk.path_for,
                     workers=2, capacity=8, per_screen=4) as server:
        # A new image for everyone: each asks for a player's window of 4 chunks, 20 requests.
        window = [(screen, i * 10) for screen in fleet for i in range(4)]
        for screen, offset in window[:2]:
            ask(screen, offset)
        wait_until(lambda: disk.entered == 2, "both workers hold a request")
        for screen, offset in window[2:]:
            ask(screen, offset)
        wait_until(lambda: server.queued + server.stats.shed == 18, "the flood arrived")
        assert server.queued == 8
        assert server.stats.peak_queued == 8
        assert server.stats.shed == 10
        assert server.stats.over_screen_limit == 0
        warnings = [r for r in caplog.records if r.name == "signage_server.transport.chunks" and "dropped" in r.message]
        assert len(warnings) == 1  # ten drops, one line in the log

        disk.release()
        wait_until(lambda: server.stats.requests >= 10, "the admitted requests were answered")
        answered = sum(len(replies(screen, quiet_s=0.3)) for screen in fleet)
        assert answered == 10  # shed requests are never read from disk nor answered
        assert server.stats.requests == 10

        request_id = ask(fleet[0])  # a player asking again after its reply timeout is served
        assert replies(fleet[0]) == [request_id]


def test_one_screen_flooding_does_not_starve_another(
    broker: ManagedMosquitto, disk: SlowDisk, screens: Callable[[], RawClient]
) -> None:
    looping, other = screens(), screens()
    order: list[str] = []
    with ChunkServer(broker.params(), may_fetch=lambda s, h: True, path_for=disk.path_for,
                     workers=2, capacity=16, per_screen=4,
                     on_reply=lambda screen_id, header: order.append(screen_id)) as server:
        for sent in range(50):  # a player stuck re-requesting the same chunk in a loop
            ask(looping)
            if sent == 1:
                wait_until(lambda: disk.entered == 2, "both workers hold a request")
        wait_until(lambda: server.stats.over_screen_limit == 44, "the loop's requests arrived")
        assert server.queued == 4

        request_id = ask(other)
        disk.release()
        assert replies(other) == [request_id]
        # Behind the two the workers held and the looping screen's four waiting, not behind its 50.
        assert order.index(screen_id_of(other)) <= 6
        assert len(replies(looping)) == 6


def test_player_recovers_a_dropped_request_by_asking_again(
    broker: ManagedMosquitto, accounts: DynsecAccounts, tmp_path: Path
) -> None:
    data = os.urandom(4 * p.DEFAULT_CHUNK_SIZE)
    sha = hashlib.sha256(data).hexdigest()
    asset = tmp_path / sha
    asset.write_bytes(data)
    screen_id = unique_id()
    creds = accounts.add_screen(screen_id)
    link = PlayerLink(broker.params().with_credentials(creds.username, creds.password), screen_id,
                      backoff=Backoff(base_s=0.05, cap_s=0.2))
    reads = 0

    def path_for(sha256: str) -> Path:
        # The first read tells the player the size; the second waits until one of the window the player
        # then sends was dropped (one may wait per screen, one is being read), as under a flood.
        nonlocal reads
        reads += 1
        if reads == 2:
            wait_until(lambda: server.stats.over_screen_limit > 0, "a request was dropped")
        return asset

    server = ChunkServer(broker.params(), may_fetch=lambda s, h: True, path_for=path_for,
                         workers=1, capacity=4, per_screen=1)
    with server:
        link.start()
        try:
            assert link.wait_connected(5)
            partial = tmp_path / "image.part"
            assert AssetFetcher(link, reply_timeout_s=1.0).fetch(sha, partial, timeout_s=30) == len(data)
        finally:
            link.stop()
        assert partial.read_bytes() == data
        assert server.stats.over_screen_limit >= 1
