"""Telemetry, enrolment and alert services on SQLite and PostgreSQL, without a broker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from signage_core.protocol import AlertAck, Heartbeat, PlayLogBatch, PlayRecord, Status
from signage_core.signing import EnvelopeKind, SigningKey, TrustStore, verify_envelope
from signage_server.alerts import service as alerts
from signage_server.alerts.models import AlertTemplate
from signage_server.audit.models import AuditEvent
from signage_server.db import saved_id
from signage_server.enrolment import service as enrolment
from signage_server.errors import Forbidden, Invalid, RateLimited
from signage_server.screens import service as screens
from signage_server.screens.models import Enrolment
from signage_server.telemetry import service as telemetry
from signage_server.telemetry.models import PlayLogEntry, PresenceEvent
from tests.server.conftest import START, TEST_SECRET

LIMITS = enrolment.EnrolLimits(window=timedelta(minutes=15), max_failures_per_address=3)


class FakeBroker:
    """Records what would go to the broker, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []

    def publish_alert(self, group: str, payload: bytes) -> None:
        self.calls.append(("publish", group, payload))

    def clear_alert(self, group: str) -> None:
        self.calls.append(("clear", group, b""))


def _batch(screen: int, *ids: str) -> PlayLogBatch:
    return PlayLogBatch(screen_id=str(screen), records=[PlayRecord(
        record_id=i, slide_id="welcome", language="vi", frame_hash="a" * 64, manifest_version="1", started_at=START, duration_ms=8000) for i in ids])


def test_play_records_are_idempotent_by_record_id(session: Session, world: dict[str, int]) -> None:
    sid = world["screen"]
    assert sorted(telemetry.record_playlog(session, screen_id=sid, batch=_batch(sid, "a", "b"), received_at=START)) == ["a", "b"]
    stored = telemetry.record_playlog(session, screen_id=sid, batch=_batch(sid, "b", "c"), received_at=START)
    assert sorted(stored) == ["b", "c"]  # "b" again is acknowledged again, not stored twice
    rows = session.exec(select(PlayLogEntry.record_id).where(PlayLogEntry.screen_id == sid)).all()
    assert sorted(rows) == ["a", "b", "c"]
    items, total = telemetry.play_log(session, screen_id=sid, start=START - timedelta(hours=1),
                                      end=START + timedelta(hours=1), limit=10, offset=0)
    assert total == 3 and len(items) == 3
    with pytest.raises(Invalid):
        telemetry.play_log(session, screen_id=sid, start=START, end=START - timedelta(seconds=1), limit=10, offset=0)


def test_presence_follows_status_heartbeats_and_silence(session: Session, world: dict[str, int]) -> None:
    sid = world["screen"]
    interval = timedelta(seconds=30)
    status = telemetry.screen_status(session, screen_id=sid, now=START, interval=interval, missed=3)
    assert status.state == "unknown"
    telemetry.record_status(session, screen_id=sid, status=Status(screen_id=str(sid), state="online"), received_at=START)
    beat = Heartbeat(screen_id=str(sid), sent_at=START + timedelta(seconds=58), uptime_s=60)
    telemetry.record_heartbeat(session, screen_id=sid, beat=beat, received_at=START + timedelta(seconds=60))
    later = START + timedelta(seconds=60) + interval * 3
    assert telemetry.screen_status(session, screen_id=sid, now=later, interval=interval, missed=3).state == "online"
    assert telemetry.mark_missed(session, now=later, interval=interval, missed=3) == []
    quiet_at = later + timedelta(seconds=1)
    # Judged offline at once, before the job has run, so the dashboard never lags.
    assert telemetry.screen_status(session, screen_id=sid, now=quiet_at, interval=interval, missed=3).state == "offline"
    assert telemetry.mark_missed(session, now=quiet_at, interval=interval, missed=3) == [sid]
    status = telemetry.screen_status(session, screen_id=sid, now=quiet_at, interval=interval, missed=3)
    assert status.presence is not None and status.presence.since == quiet_at
    assert status.heartbeat is not None and status.heartbeat.clock_offset_s == -2.0
    # The last will does not count as a sighting.
    telemetry.record_status(session, screen_id=sid, status=Status(screen_id=str(sid), state="offline"),
                            received_at=quiet_at + timedelta(hours=1))
    assert status.presence.last_seen == START + timedelta(seconds=60)


def test_a_batch_of_beats_keeps_the_last_per_screen_and_never_moves_last_seen_back(
        session: Session, world: dict[str, int]) -> None:
    # PostgreSQL stores a batch in two set-based statements, SQLite with executemany: same outcome.
    sid, spare = world["screen"], world["spare_screen"]
    at = lambda s: START + timedelta(seconds=s)  # noqa: E731
    telemetry.record_status(session, screen_id=sid, status=Status(screen_id=str(sid), state="online"), received_at=at(120))
    telemetry.record_status(session, screen_id=spare, status=Status(screen_id=str(spare), state="offline"),
                            received_at=at(0))

    def beats(*rows: tuple[int, float, float]) -> list[tuple[int, Heartbeat, Any]]:
        return [(screen, Heartbeat(screen_id=str(screen), sent_at=at(s), uptime_s=up), at(s)) for screen, up, s in rows]

    # Arrival order wins the heartbeat row; last_seen only ever moves forward.
    assert telemetry.record_heartbeats(session, beats=beats((sid, 10, 60), (spare, 20, 60), (987654, 1, 60),
                                                            (sid, 11, 90))) == {987654}
    first = {s.screen.id: s for s in telemetry.all_statuses(session, now=at(130), interval=timedelta(seconds=30),
                                                             missed=3)}
    assert first[sid].heartbeat is not None and first[sid].heartbeat.uptime_s == 11
    assert first[sid].presence is not None and first[sid].presence.last_seen == at(120)
    assert first[spare].presence is not None and (first[spare].presence.state, first[spare].presence.since,
                                                   first[spare].presence.last_seen) == ("online", at(60), at(60))
    assert telemetry.record_heartbeats(session, beats=beats((spare, 21, 200), (sid, 12, 200))) == set()
    second = {s.screen.id: s for s in telemetry.all_statuses(session, now=at(210), interval=timedelta(seconds=30),
                                                              missed=3)}
    assert second[sid].heartbeat is not None and second[sid].heartbeat.uptime_s == 12
    assert second[sid].presence is not None and second[sid].presence.last_seen == at(200)
    assert second[spare].presence is not None and second[spare].presence.since == at(60)
    events = session.exec(select(PresenceEvent.screen_id, PresenceEvent.state, PresenceEvent.source).where(
        col(PresenceEvent.screen_id).in_([sid, spare]))).all()
    assert sorted(events) == sorted([(sid, "online", "status"), (spare, "offline", "status"),
                                     (spare, "online", "heartbeat")])


def test_report_from_unknown_screen_is_refused(session: Session) -> None:
    with pytest.raises(telemetry.UnknownScreen):
        telemetry.record_playlog(session, screen_id=987654, batch=_batch(987654, "a"), received_at=START)


def test_codes_are_single_use_stored_hashed_and_audited(session: Session, users: dict[str, Any],
                                                        world: dict[str, int]) -> None:
    sid = world["spare_screen"]
    with pytest.raises(Forbidden):
        enrolment.issue_code(session, actor=users["operator"], screen_id=sid, secret=TEST_SECRET,
                             ttl=timedelta(hours=24), now=START)
    code, row = enrolment.issue_code(session, actor=users["admin"], screen_id=sid, secret=TEST_SECRET,
                                     ttl=timedelta(hours=24), now=START)
    assert code not in row.code_hash and len(code) == 19
    screen = enrolment.redeem_code(session, code=code, address="10.0.0.9", agent_version="1", secret=TEST_SECRET,
                                   limits=LIMITS, now=START + timedelta(hours=1))
    assert screen.enrolment == Enrolment.ENROLLED
    with pytest.raises(enrolment.EnrolmentCodeUsed):
        enrolment.redeem_code(session, code=code, address="10.0.0.9", agent_version="1", secret=TEST_SECRET,
                              limits=LIMITS, now=START + timedelta(hours=2))
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.entity_id == str(sid))).all()
    assert {"enrolment.code_issue", "enrolment.code_use", "screen.enrolled"} <= set(actions)


def test_rate_limit_counts_per_address_within_the_window(session: Session) -> None:
    for _ in range(LIMITS.max_failures_per_address):
        with pytest.raises(enrolment.EnrolmentCodeInvalid):
            enrolment.redeem_code(session, code="NOPE", address="10.0.0.7", agent_version="", secret=TEST_SECRET,
                                  limits=LIMITS, now=START)
    with pytest.raises(RateLimited):
        enrolment.redeem_code(session, code="NOPE", address="10.0.0.7", agent_version="", secret=TEST_SECRET,
                              limits=LIMITS, now=START)
    with pytest.raises(enrolment.EnrolmentCodeInvalid):  # another address is not punished
        enrolment.redeem_code(session, code="NOPE", address="10.0.0.8", agent_version="", secret=TEST_SECRET,
                              limits=LIMITS, now=START)
    with pytest.raises(enrolment.EnrolmentCodeInvalid):  # and the window passes
        enrolment.redeem_code(session, code="NOPE", address="10.0.0.7", agent_version="", secret=TEST_SECRET,
                              limits=LIMITS, now=START + LIMITS.window + timedelta(seconds=1))


def _template_id(session: Session, key: str) -> int:
    return session.exec(select(AlertTemplate.id).where(AlertTemplate.key == key)).one() or 0


def test_withdrawing_one_alert_leaves_the_other_retained_on_a_shared_topic(
        session: Session, users: dict[str, Any], world: dict[str, int]) -> None:
    key, broker = SigningKey.generate(), FakeBroker()
    group = world["group"]
    first = alerts.launch(session, actor=users["approver"], template_id=_template_id(session, "severe-weather"),
                          group_ids=[group], screen_ids=[], expires_at=START + timedelta(hours=2), key=key,
                          publisher=broker, now=START)
    second = alerts.launch(session, actor=users["admin"], template_id=_template_id(session, "disease-control"),
                           group_ids=[group], screen_ids=[world["spare_screen"]], expires_at=START + timedelta(hours=1),
                           key=key, publisher=broker, now=START + timedelta(minutes=1))
    assert second.version > first.version
    assert second.topics == [f"g{group}", f"s{world['spare_screen']}"]
    broker.calls.clear()
    alerts.withdraw(session, actor=users["approver"], alert_id=saved_id(second), key=key, publisher=broker,
                    now=START + timedelta(minutes=2))
    kinds = [(c[0], c[1]) for c in broker.calls]
    # The withdrawal goes out on both topics; the group's slot then holds the first alert again.
    assert kinds == [("publish", f"g{group}"), ("publish", f"s{world['spare_screen']}"),
                     ("publish", f"g{group}"), ("clear", f"s{world['spare_screen']}")]
    assert broker.calls[2][2] == first.envelope.encode()
    withdrawal = verify_envelope(broker.calls[0][2], trust=TrustStore.of(key.public_key),
                                 expected_kind=EnvelopeKind.ALERT, screen_id=str(world["screen"]),
                                 last_version=second.version, now=START + timedelta(minutes=2))
    assert withdrawal.body["action"] == "withdraw" and withdrawal.header.version > second.version
    broker.calls.clear()
    assert alerts.clear_expired(session, publisher=broker, now=START + timedelta(hours=2)) == [first.id]
    assert broker.calls == [("clear", f"g{group}", b"")]
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.entity == "alert")).all()
    assert actions.count("alert.launch") == 2 and actions.count("alert.withdraw") == 1


def test_alert_rules(session: Session, users: dict[str, Any], world: dict[str, int]) -> None:
    key, broker = SigningKey.generate(), FakeBroker()
    tid = _template_id(session, "border-closure")
    common: dict[str, Any] = {"template_id": tid, "key": key, "publisher": broker, "now": START}
    with pytest.raises(Forbidden):
        alerts.launch(session, actor=users["operator"], group_ids=[world["group"]], screen_ids=[],
                      expires_at=START + timedelta(hours=1), **common)
    with pytest.raises(Invalid, match="future"):
        alerts.launch(session, actor=users["approver"], group_ids=[world["group"]], screen_ids=[],
                      expires_at=START, **common)
    with pytest.raises(Invalid, match="at least one"):
        alerts.launch(session, actor=users["approver"], group_ids=[], screen_ids=[],
                      expires_at=START + timedelta(hours=1), **common)
    with pytest.raises(Invalid, match="no active screens"):
        alerts.launch(session, actor=users["approver"], group_ids=[world["empty_group"]], screen_ids=[],
                      expires_at=START + timedelta(hours=1), **common)
    assert broker.calls == []


def test_acks_record_latency_once_and_ignore_strays(session: Session, users: dict[str, Any],
                                                    world: dict[str, int]) -> None:
    alert = alerts.launch(session, actor=users["approver"], template_id=_template_id(session, "border-closure"),
                          group_ids=[], screen_ids=[world["screen"]], expires_at=START + timedelta(hours=1),
                          key=SigningKey.generate(), publisher=FakeBroker(), now=START)
    ack = AlertAck(alert_id=str(alert.id), frame_hash="0" * 64, shown_at=START)
    target = alerts.record_ack(session, screen_id=world["screen"], ack=ack, received_at=START + timedelta(milliseconds=420))
    assert target is not None and target.latency_ms == 420
    assert alerts.record_ack(session, screen_id=world["screen"], ack=ack, received_at=START + timedelta(seconds=9)) is None
    assert alerts.record_ack(session, screen_id=world["spare_screen"], ack=ack, received_at=START) is None
    report = alerts.report(session, alert_id=saved_id(alert), now=START)
    assert report.state == "active" and [t.latency_ms for t, _ in report.targets] == [420]
    screens.set_enrolment(session, actor=users["admin"], screen_id=world["spare_screen"], state=Enrolment.REVOKED,
                          now=START)
    with pytest.raises(Invalid, match="revoked"):
        alerts.launch(session, actor=users["approver"], template_id=_template_id(session, "border-closure"),
                      group_ids=[], screen_ids=[world["spare_screen"]], expires_at=START + timedelta(hours=1),
                      key=SigningKey.generate(), publisher=FakeBroker(), now=START)


def test_a_players_lasting_problems_lead_its_last_error(session: Session, world: dict[str, int]) -> None:
    sid = world["screen"]
    beat = Heartbeat(screen_id=str(sid), sent_at=START, uptime_s=5, last_error="manifest refused: stale_version",
                     problems=("state.json is damaged (bad JSON); recovered from its last-good copy",
                               "manifest v9 waits for 12 MB of free disk space"))
    row = telemetry.record_heartbeat(session, screen_id=sid, beat=beat, received_at=START)
    assert row.last_error == ("state.json is damaged (bad JSON); recovered from its last-good copy; "
                              "manifest v9 waits for 12 MB of free disk space; manifest refused: stale_version")
    calm = Heartbeat(screen_id=str(sid), sent_at=START, uptime_s=6)
    assert telemetry.record_heartbeat(session, screen_id=sid, beat=calm, received_at=START).last_error is None
