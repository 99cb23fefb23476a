"""Content pulls end to end: a player fetching assets over MQTT from the server's chunk server."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from player_agent.transport import AssetCorrupt, AssetFetcher, AssetFetchError, Backoff, PlayerLink
from signage_core import protocol as p
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import ManagedMosquitto
from signage_server.transport.chunks import ChunkServer
from tests.broker_fixtures import RawClient, unique_id
from tests.player.agent_world import Store

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("assets"))


@pytest.fixture(scope="module")
def chunk_server(broker: ManagedMosquitto, store: Store) -> Iterator[ChunkServer]:
    with ChunkServer(broker.params(), may_fetch=store.may_fetch, path_for=store.path_for, on_reply=store.record) as server:
        yield server


@pytest.fixture
def screen(broker: ManagedMosquitto, accounts: DynsecAccounts, chunk_server: ChunkServer) -> Iterator[PlayerLink]:
    screen_id = unique_id()
    creds = accounts.add_screen(screen_id)
    link = PlayerLink(broker.params().with_credentials(creds.username, creds.password), screen_id, backoff=Backoff(base_s=0.05, cap_s=0.2))
    link.start()
    assert link.wait_connected(5)
    yield link
    link.stop()


def test_20_mib_asset_arrives_intact(screen: PlayerLink, store: Store, tmp_path: Path) -> None:
    data = os.urandom(20 * 1024 * 1024)
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    partial = tmp_path / f"{sha}.part"
    size = AssetFetcher(screen).fetch(sha, partial, timeout_s=60)
    assert size == len(data)
    assert hashlib.sha256(partial.read_bytes()).hexdigest() == sha
    served = [h for h in store.sent() if h.sha256 == sha]
    assert sum(h.length for h in served) == len(data)  # nothing sent twice on a clean link
    assert max(h.length for h in served) == p.DEFAULT_CHUNK_SIZE


def test_transfer_interrupted_halfway_resumes_without_resending(screen: PlayerLink, store: Store, tmp_path: Path) -> None:
    data = os.urandom(8 * 1024 * 1024)
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    partial = tmp_path / "cut.part"
    cut_at: list[int] = []

    def cut_halfway(written: int, total: int) -> None:
        if not cut_at and written >= total // 2:
            cut_at.append(written)
            screen.drop_connection()  # like a 4G modem losing its carrier

    fetcher = AssetFetcher(screen, window=2, on_progress=cut_halfway, reply_timeout_s=5)
    assert fetcher.fetch(sha, partial, timeout_s=60) == len(data)
    assert partial.read_bytes() == data
    assert screen.connections >= 2, "the link never actually dropped"

    served = [h for h in store.sent() if h.sha256 == sha]
    offsets = [h.offset for h in served]
    sent_twice = {o for o in offsets if offsets.count(o) > 1}
    # Bytes the player held at the cut are never served again; only in-flight ones may be.
    assert all(o >= cut_at[0] for o in sent_twice), (cut_at, sorted(sent_twice))
    wasted = sum(h.length for h in served) - len(data)
    assert 0 <= wasted <= 2 * p.DEFAULT_CHUNK_SIZE


def test_resume_after_restart_starts_from_partial_file_size(screen: PlayerLink, store: Store, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 123)
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    partial = tmp_path / "half.part"
    partial.write_bytes(data[: 1536 * 1024])  # what a previous run had fsynced before a power cut
    before = len(store.sent())
    AssetFetcher(screen).fetch(sha, partial, timeout_s=30)
    assert partial.read_bytes() == data
    served = [h for h in store.sent()[before:] if h.sha256 == sha]
    assert min(h.offset for h in served) == 1536 * 1024
    assert sum(h.length for h in served) == len(data) - 1536 * 1024


def test_asset_not_in_manifest_is_refused(screen: PlayerLink, store: Store, tmp_path: Path) -> None:
    sha = store.add(b"not for this screen")
    store.allowed[screen.screen_id] = set()
    with pytest.raises(AssetFetchError, match="not in screen .* current manifest"):
        AssetFetcher(screen).fetch(sha, tmp_path / "x.part", timeout_s=10)
    assert [h.length for h in store.sent() if h.sha256 == sha] == [0]


def test_corrupt_partial_is_detected_and_emptied(screen: PlayerLink, store: Store, tmp_path: Path) -> None:
    data = os.urandom(600 * 1024)
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    partial = tmp_path / "bad.part"
    partial.write_bytes(b"\0" * 1000)  # a power cut left garbage, not our bytes
    with pytest.raises(AssetCorrupt, match="expected"):
        AssetFetcher(screen).fetch(sha, partial, timeout_s=10)
    assert partial.stat().st_size == 0
    AssetFetcher(screen).fetch(sha, partial, timeout_s=10)
    assert partial.read_bytes() == data


def test_other_screen_sees_none_of_the_chunks(
    broker: ManagedMosquitto, accounts: DynsecAccounts, screen: PlayerLink, store: Store, tmp_path: Path
) -> None:
    other_id = unique_id()
    creds = accounts.add_screen(other_id)
    other = RawClient(broker.params().with_credentials(other_id, creds.password))
    assert not other.connect().is_failure
    assert other.subscribe(p.asset_chunk_topic(other_id))
    assert not other.subscribe(p.asset_chunk_topic(screen.screen_id))
    data = os.urandom(300 * 1024)
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    store.allowed[other_id] = {sha}  # even when both may fetch it, replies go only to the asker
    AssetFetcher(screen).fetch(sha, tmp_path / "mine.part", timeout_s=10)
    assert other.receive(timeout=0.5) is None
    other.close()


def test_partial_longer_than_the_asset_is_started_again(screen: PlayerLink, store: Store, tmp_path: Path) -> None:
    data = os.urandom(100 * 1024)
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    partial = tmp_path / "long.part"
    partial.write_bytes(os.urandom(300 * 1024))
    assert AssetFetcher(screen).fetch(sha, partial, timeout_s=10) == len(data)
    assert partial.read_bytes() == data


def test_a_reply_that_never_comes_costs_at_most_a_few_chunks(
    screen: PlayerLink, store: Store, chunk_server: ChunkServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(32 * p.DEFAULT_CHUNK_SIZE)
    sha = store.add(data)
    store.allowed[screen.screen_id] = {sha}
    answer = chunk_server.handle
    requests = itertools.count()

    def lose_the_third(topic: str, payload: bytes) -> p.ChunkHeader | None:
        # As when the server sheds a request under a flood: the player gets no reply for it, ever.
        if topic == p.asset_request_topic(screen.screen_id) and next(requests) == 2:
            return None
        return answer(topic, payload)

    monkeypatch.setattr(chunk_server, "handle", lose_the_third)
    partial = tmp_path / "gap.part"
    fetcher = AssetFetcher(screen, window=4, reply_timeout_s=1.0)
    assert fetcher.fetch(sha, partial, timeout_s=60) == len(data)
    assert partial.read_bytes() == data
    served = sum(h.length for h in store.sent() if h.sha256 == sha)
    # Asked again from the gap: only what had arrived beyond it, never the whole rest of the asset.
    assert served - len(data) <= 2 * fetcher.window * p.DEFAULT_CHUNK_SIZE
