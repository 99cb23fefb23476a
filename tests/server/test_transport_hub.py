"""The server hub against a real broker and a real player link; presence logic with an injected clock."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest

from player_agent.transport import Backoff, PlayerLink
from signage_core import protocol as p
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import ManagedMosquitto
from signage_server.transport.hub import ReportHandlers, ServerHub
from tests.broker_fixtures import RawClient, unique_id

T0 = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
SHA = "cd" * 32


class Inbox:
    """Collects what the hub hands to the (later DB-backed) services."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, str, object]] = queue.Queue()
        self.stored: set[str] = set()

    def handlers(self) -> ReportHandlers:
        def on_playlog(screen: str, batch: p.PlayLogBatch, at: datetime) -> Iterable[str]:
            self.events.put(("playlog", screen, batch))
            ids = [r.record_id for r in batch.records if not r.record_id.startswith("fail")]
            self.stored.update(ids)
            return ids

        return ReportHandlers(
            on_status=lambda s, m, at: self.events.put(("status", s, m)),
            on_heartbeat=lambda s, m, at: self.events.put(("heartbeat", s, m)),
            on_playlog=on_playlog,
            on_alert_ack=lambda s, m, at: self.events.put(("alert_ack", s, m)),
            on_screenshot=lambda s, h, data, at: self.events.put(("screenshot", s, (h, data))),
        )

    def next(self, kind: str) -> tuple[str, object]:
        while True:
            got_kind, screen, model = self.events.get(timeout=5)
            if got_kind == kind:
                return screen, model


@pytest.fixture
def hub_and_player(broker: ManagedMosquitto, accounts: DynsecAccounts) -> Iterator[tuple[ServerHub, PlayerLink, Inbox]]:
    inbox = Inbox()
    screen_id = unique_id()
    creds = accounts.add_screen(screen_id)
    with ServerHub(broker.params(), inbox.handlers(), clock=lambda: T0) as hub:
        link = PlayerLink(
            broker.params().with_credentials(creds.username, creds.password),
            screen_id,
            backoff=Backoff(base_s=0.05, cap_s=0.2),
            clock=lambda: T0,
        )
        link.start()
        assert link.wait_connected(5)
        yield hub, link, inbox
        link.stop()


pytestmark = pytest.mark.broker


def test_reports_arrive_as_models_and_play_records_are_acknowledged(hub_and_player) -> None:
    hub, link, inbox = hub_and_player
    screen, status = inbox.next("status")
    assert screen == link.screen_id and isinstance(status, p.Status) and status.state == "online"

    link.publish(p.TopicKind.HEARTBEAT, p.encode(p.Heartbeat(screen_id=link.screen_id, sent_at=T0, uptime_s=5)))
    assert inbox.next("heartbeat")[0] == link.screen_id

    acks: queue.Queue[bytes] = queue.Queue()
    link.on(p.TopicKind.PLAYLOG_ACK, lambda topic, payload: acks.put(payload))
    records = [
        p.PlayRecord(record_id=rid, slide_id="s1", language="vi", manifest_version="m1", started_at=T0, duration_ms=8000, frame_hash="0" * 64)
        for rid in ("r1", "r2", "fail-3")
    ]
    link.publish(p.TopicKind.PLAYLOG, p.encode(p.PlayLogBatch(screen_id=link.screen_id, records=records)))
    ack = p.decode(p.PlayLogAck, acks.get(timeout=5))
    assert ack.record_ids == ["r1", "r2"]  # the one the store failed on stays with the player

    link.publish(p.TopicKind.ALERT_ACK, p.encode(p.AlertAck(alert_id="a1", frame_hash=SHA, shown_at=T0)))
    _, alert_ack = inbox.next("alert_ack")
    assert isinstance(alert_ack, p.AlertAck) and alert_ack.frame_hash == SHA

    shot = p.ScreenshotHeader(command_id="c1", taken_at=T0, length=4)
    link.publish(p.TopicKind.SCREENSHOT, p.encode_frame(shot, b"\xff\xd8\xff\xd9"))
    _, (header, data) = inbox.next("screenshot")
    assert header == shot and data == b"\xff\xd8\xff\xd9"


def test_a_report_claiming_another_screen_is_rejected(hub_and_player) -> None:
    hub, link, inbox = hub_and_player
    inbox.next("status")
    link.publish(p.TopicKind.HEARTBEAT, p.encode(p.Heartbeat(screen_id="someone-else", sent_at=T0, uptime_s=1)))
    link.publish(p.TopicKind.HEARTBEAT, b"not json")
    link.publish(p.TopicKind.HEARTBEAT, p.encode(p.Heartbeat(screen_id=link.screen_id, sent_at=T0, uptime_s=2)))
    screen, beat = inbox.next("heartbeat")
    assert isinstance(beat, p.Heartbeat) and beat.uptime_s == 2  # the two bad ones never reached the service
    assert hub.rejected == 2


def test_manifest_alert_and_command_reach_the_player(hub_and_player, accounts: DynsecAccounts) -> None:
    hub, link, _ = hub_and_player
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    for kind in (p.TopicKind.MANIFEST, p.TopicKind.COMMAND, p.TopicKind.GROUP_ALERT):
        link.on(kind, lambda topic, payload: got.put((topic, payload)))
    hub.publish_manifest(link.screen_id, {"payload": {"version": "m2"}, "sig": "x"})
    topic, payload = got.get(timeout=5)
    assert topic == p.manifest_topic(link.screen_id)
    assert p.decode_envelope(payload) == {"payload": {"version": "m2"}, "sig": "x"}
    hub.send_command(link.screen_id, {"payload": {"kind": "screenshot"}, "sig": "y"})
    assert got.get(timeout=5)[0] == p.command_topic(link.screen_id)

    group = unique_id("g")
    hub.publish_alert(group, {"payload": {"alert_id": "a1"}, "sig": "z"})  # before the screen joins
    accounts.set_screen_groups(link.screen_id, [group])  # kicks the session; the link comes back
    link.set_groups([group])
    topic, payload = got.get(timeout=10)
    while topic != p.group_alert_topic(group):  # the retained manifest is replayed on reconnect too
        topic, payload = got.get(timeout=10)
    assert p.decode_envelope(payload)["sig"] == "z"

    hub.clear_alert(group)
    late = RawClient(hub._params)
    assert not late.connect().is_failure
    assert late.subscribe(p.group_alert_topic(group))
    assert late.receive(timeout=0.5) is None  # a withdrawn alert is not handed to newcomers
    late.close()


def test_hub_and_chunk_server_resubscribe_after_a_broker_restart(fresh_broker: ManagedMosquitto, tmp_path) -> None:
    import os
    import signal
    import time

    from signage_server.transport.chunks import ChunkServer

    inbox = Inbox()
    asset = tmp_path / "asset"
    asset.write_bytes(b"z" * 1000)
    with DynsecAccounts(fresh_broker.params()) as acc:
        creds = acc.add_screen("after-restart")
    with (
        ServerHub(fresh_broker.params(), inbox.handlers()) as hub,
        ChunkServer(fresh_broker.params(), may_fetch=lambda s, h: True, path_for=lambda h: asset) as chunks,
    ):
        os.kill(fresh_broker.pid or 0, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while fresh_broker.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        fresh_broker.wait_ready(10)
        player = RawClient(fresh_broker.params().with_credentials(creds.username, creds.password))
        assert not player.connect().is_failure
        assert player.subscribe(p.asset_chunk_topic("after-restart"))
        deadline = time.monotonic() + 10
        reply = None
        while reply is None and time.monotonic() < deadline:  # until their paho clients are back
            player.publish(
                p.asset_request_topic("after-restart"),
                p.encode(p.AssetRequest(request_id="r", sha256=SHA, offset=0, length=10)),
            )
            player.publish(
                p.heartbeat_topic("after-restart"),
                p.encode(p.Heartbeat(screen_id="after-restart", sent_at=T0, uptime_s=1)),
            )
            reply = player.receive(timeout=0.5)
        assert reply is not None, "chunk server did not come back"
        header, data = p.decode_frame(p.ChunkHeader, reply.payload)
        assert data == b"z" * 10 and header.total_size == 1000
        assert inbox.next("heartbeat")[0] == "after-restart"
        assert chunks.stats.requests >= 1 and hub.rejected == 0
        player.close()



def test_many_manifests_go_out_pipelined_each_retained_on_its_own_topic(broker: ManagedMosquitto) -> None:
    """publish_manifests sends a batch, awaits every ack; each screen's topic then holds exactly its payload."""
    screens = [unique_id("lane") for _ in range(60)]
    payloads = {sid: json.dumps({"body": {"screen_id": sid}, "sig": "s"}).encode() for sid in screens}
    with ServerHub(broker.params(), Inbox().handlers(), clock=lambda: T0) as hub:
        hub.publish_manifests(list(payloads.items()))
    for sid in (screens[0], screens[31], screens[-1]):  # retained: a subscriber arriving later still gets each
        late = RawClient(broker.params())
        try:
            assert not late.connect().is_failure and late.subscribe(p.manifest_topic(sid))
            got = late.receive(5)
            assert got is not None and got.payload == payloads[sid] and got.retain
        finally:
            late.close()
