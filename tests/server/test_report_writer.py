"""The report writer: batched transactions, nothing lost on shutdown, one bad report costs only itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from signage_core.protocol import AlertAck, Heartbeat, PlayLogBatch, PlayRecord, Status
from signage_core.signing import SigningKey
from signage_server.alerts import service as alerts
from signage_server.alerts.models import AlertTarget, AlertTemplate
from signage_server.db import saved_id, session_factory
from signage_server.errors import Invalid
from signage_server.screens import service as screens
from signage_server.telemetry import service as telemetry
from signage_server.telemetry.models import (
    PlayLogEntry,
    PresenceEvent,
    ScreenHeartbeat,
    ScreenPresence,
)
from signage_server.transport.ids import screen_wire_id
from signage_server.transport.reports import Report, ReportWriter
from signage_server.users.models import User
from tests.server.conftest import START


class _Publisher:
    def publish_alert(self, group: str, payload: bytes) -> None:
        pass

    def clear_alert(self, group: str) -> None:
        pass


@pytest.fixture
def fleet(engine: Engine, seeded: dict[str, tuple[int, str]], request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Three committed screens in one group and an alert to all of them (committed: the writer has its own sessions)."""
    tag = request.node.name[-40:]
    with Session(engine, expire_on_commit=False) as s:
        admin = s.get_one(User, seeded["admin"][0])
        approver = s.get_one(User, seeded["approver"][0])
        site = screens.create_site(s, actor=admin, slug=f"w{abs(hash(tag)) % 10**8}", name=tag, now=START)
        group = screens.create_group(s, actor=admin, name=f"g-{tag}", now=START)
        ids = [saved_id(screens.create_screen(s, actor=admin, fields={
            "site_id": site.id, "name": f"{tag}-{i}", "width_px": 192, "height_px": 96, "pixel_pitch_mm": 5,
            "languages": ["vi"], "group_ids": [group.id]}, now=START)) for i in range(3)]
        template = s.exec(select(AlertTemplate.id).where(AlertTemplate.key == "border-closure")).one() or 0
        alert = alerts.launch(s, actor=approver, template_id=template, group_ids=[saved_id(group)], screen_ids=[],
                              expires_at=START + timedelta(hours=1), key=SigningKey.generate(),
                              publisher=_Publisher(), now=START)
        s.commit()
        yield {"screens": ids, "alert": alert.id}


def _beat(sid: int, uptime: float) -> Report:
    at = START + timedelta(seconds=uptime)
    return Report(screen_wire_id(sid), sid, Heartbeat(screen_id=screen_wire_id(sid), sent_at=at, uptime_s=uptime), at)


def _plays(sid: int, *ids: str) -> Report:
    batch = PlayLogBatch(screen_id=screen_wire_id(sid), records=[PlayRecord(
        record_id=i, slide_id="welcome", language="vi", frame_hash="a" * 64, manifest_version="1",
        started_at=START, duration_ms=8000) for i in ids])
    return Report(screen_wire_id(sid), sid, batch, START)


def _ack(sid: int, alert_id: int) -> Report:
    at = START + timedelta(seconds=1)
    return Report(screen_wire_id(sid), sid, AlertAck(alert_id=str(alert_id), frame_hash="b" * 64, shown_at=at), at)


def test_everything_queued_is_stored_when_the_writer_stops(engine: Engine, fleet: dict[str, Any]) -> None:
    a, b, c = fleet["screens"]
    acked: list[tuple[str, list[str]]] = []
    writer = ReportWriter(session_factory(engine), on_playlog_stored=lambda w, ids: acked.append((w, ids)),
                          max_batch=64, max_delay_s=0.5)
    writer.start()
    reports = [_beat(sid, n) for n in range(1, 101) for sid in (a, b)]
    reports += [_plays(a, "p1", "p2"), _plays(b, "q1"), _plays(a, "p2", "p3"), _ack(a, fleet["alert"]),
                _ack(b, fleet["alert"]), _ack(b, fleet["alert"]),
                Report(screen_wire_id(c), c, Status(screen_id=screen_wire_id(c), state="online"), START),
                _beat(987654, 7)]  # a screen the database does not hold: dropped, not fatal to the batch
    for report in reports:
        writer.submit(report)
    writer.stop()  # at once: the half-second linger must not lose what is still queued

    with Session(engine) as s:
        beats = {h.screen_id: h.uptime_s for h in s.exec(select(ScreenHeartbeat).where(
            col(ScreenHeartbeat.screen_id).in_([a, b]))).all()}
        assert beats == {a: 100.0, b: 100.0}  # the last of each screen's 100 beats, in order
        plays = s.exec(select(PlayLogEntry.screen_id, PlayLogEntry.record_id).where(
            col(PlayLogEntry.screen_id).in_([a, b]))).all()
        assert sorted(plays) == sorted([(a, "p1"), (a, "p2"), (a, "p3"), (b, "q1")])
        targets = {t.screen_id: t for t in s.exec(select(AlertTarget).where(
            AlertTarget.alert_id == fleet["alert"])).all()}
        assert targets[a].acked_at is not None and targets[b].acked_at is not None and targets[c].acked_at is None
        presence = {p.screen_id: p.state for p in s.exec(select(ScreenPresence).where(
            col(ScreenPresence.screen_id).in_([a, b, c]))).all()}
        assert presence == {a: "online", b: "online", c: "online"}
        # One "online" event per screen, not one per heartbeat.
        events = s.exec(select(func.count()).select_from(PresenceEvent).where(
            col(PresenceEvent.screen_id).in_([a, b, c]))).one()
        assert events == 3
    # Play records are acknowledged (re-sent ones too) only once stored.
    assert sorted((w, sorted(ids)) for w, ids in acked) == sorted([
        (screen_wire_id(a), ["p1", "p2"]), (screen_wire_id(b), ["q1"]), (screen_wire_id(a), ["p2", "p3"])])
    assert writer.stats.reports == len(reports) and writer.stats.unknown_screen == 1
    assert writer.stats.batches <= 6  # 208 reports in batches of up to 64, not 208 transactions


def test_a_report_the_database_refuses_costs_only_itself(engine: Engine, fleet: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, _ = fleet["screens"]
    real = telemetry.record_playlog

    def picky(session: Session, *, screen_id: int, batch: PlayLogBatch, received_at: Any) -> list[str]:
        if screen_id == b:
            raise Invalid("refused for the test")
        return real(session, screen_id=screen_id, batch=batch, received_at=received_at)

    monkeypatch.setattr(telemetry, "record_playlog", picky)
    acked: list[str] = []
    writer = ReportWriter(session_factory(engine), on_playlog_stored=lambda w, ids: acked.append(w),
                          max_delay_s=0.2)
    for report in (_beat(a, 5), _plays(b, "x"), _plays(a, "y"), _beat(b, 6)):
        writer.submit(report)
    writer.start()
    assert writer.flush(10)
    writer.stop()
    with Session(engine) as s:
        assert {h.screen_id: h.uptime_s for h in s.exec(select(ScreenHeartbeat).where(
            col(ScreenHeartbeat.screen_id).in_([a, b]))).all()} == {a: 5.0, b: 6.0}
        assert s.exec(select(PlayLogEntry.record_id).where(col(PlayLogEntry.screen_id).in_([a, b]))).all() == ["y"]
    assert acked == [screen_wire_id(a)]  # the refused records are not acknowledged: the player keeps them
    assert writer.stats.failed == 1 and writer.stats.retried_batches == 1


def test_an_ack_that_beats_the_launchs_commit_is_stored_once_it_commits(
        engine: Engine, fleet: dict[str, Any], seeded: dict[str, tuple[int, str]]) -> None:
    # The launch publishes before its request commits: a fast player's ack reaches the writer first.
    a, b, _ = fleet["screens"]
    writer = ReportWriter(session_factory(engine), max_delay_s=0.0)
    writer.start()
    try:
        with Session(engine, expire_on_commit=False) as launching:
            approver = launching.get_one(User, seeded["approver"][0])
            template = launching.exec(select(AlertTemplate.id).where(AlertTemplate.key == "border-closure")).one()
            alert = alerts.launch(launching, actor=approver, template_id=template or 0, group_ids=[], screen_ids=[a, b],
                                  expires_at=START + timedelta(hours=1), key=SigningKey.generate(),
                                  publisher=_Publisher(), now=START)
            launching.flush()
            writer.submit(_ack(a, saved_id(alert)))
            # PostgreSQL: the writer reads around the open launch and holds the ack (before, it was dropped);
            # SQLite: the writer waits for the launch's write lock.
            writer.flush(1.0)
            launching.commit()
        writer.submit(_ack(b, saved_id(alert)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with Session(engine) as s:
                acked = s.exec(select(AlertTarget.screen_id).where(
                    AlertTarget.alert_id == alert.id, col(AlertTarget.acked_at).is_not(None))).all()
            if sorted(acked) == sorted([a, b]):
                break
            time.sleep(0.02)
        assert sorted(acked) == sorted([a, b])
        assert writer.stats.unmatched_acks == 0
        assert writer.stats.early_acks == (1 if engine.dialect.name == "postgresql" else 0)
    finally:
        writer.stop()


def test_an_ack_naming_no_alert_is_tried_ever_more_rarely_then_given_up(
        engine: Engine, fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    a, _, _ = fleet["screens"]
    stray = 2_000_000_000  # beyond any stored alert
    tries: list[float] = []
    real = alerts.record_acks

    def counted(session: Session, *, acks: Any) -> Any:
        tries.extend(time.monotonic() for _, ack, _ in acks if ack.alert_id == str(stray))
        return real(session, acks=acks)

    monkeypatch.setattr(alerts, "record_acks", counted)
    writer = ReportWriter(session_factory(engine), early_ack_wait_s=1.0, early_ack_retry_s=0.01,
                          early_ack_retry_max_s=1.0)
    writer.start()
    try:
        writer.submit(_ack(a, stray))
        writer.submit(_ack(a, fleet["alert"]))
        deadline = time.monotonic() + 10
        while writer.stats.unmatched_acks == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.stats.early_acks == 1 and writer.stats.unmatched_acks == 1
    finally:
        writer.stop()
    # Tried after 10, 20, 40 ... ms, not every 10 ms: a second of waiting is 8 reads, not ~100.
    assert 5 <= len(tries) <= 10
    gaps = [later - earlier for earlier, later in zip(tries, tries[1:], strict=False)]
    assert gaps[-1] > 4 * gaps[0]
    with Session(engine) as s:
        assert s.exec(select(AlertTarget.acked_at).where(
            AlertTarget.alert_id == fleet["alert"], AlertTarget.screen_id == a)).one() is not None


def test_an_ack_does_not_wait_for_company(engine: Engine, fleet: dict[str, Any]) -> None:
    # Heartbeats may linger for a fuller batch; an approver is watching the acks come in.
    a, _, _ = fleet["screens"]
    writer = ReportWriter(session_factory(engine), max_delay_s=30.0)
    writer.start()
    try:
        writer.submit(_ack(a, fleet["alert"]))
        assert writer.flush(10)  # well before the 30 s linger
    finally:
        writer.stop()
