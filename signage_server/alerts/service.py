"""Urgent alerts: launch a pre-approved template on screens, withdraw it, and see who confirmed and how fast."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, cast

from sqlalchemy import func, insert
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from signage_core.languages import registry
from signage_core.protocol import AlertAck, AlertBody
from signage_core.signing import EnvelopeKind, SigningKey, sign_envelope
from signage_server.alerts.models import Alert, AlertSequence, AlertTarget, AlertTemplate
from signage_server.audit import service as audit
from signage_server.bounds import INT_MAX
from signage_server.db import saved_id
from signage_server.errors import Conflict, Invalid, NotFound
from signage_server.permissions import require_role
from signage_server.screens.models import Enrolment, Screen, ScreenGroup, ScreenGroupLink
from signage_server.transport.ids import group_wire_id, screen_wire_id, single_screen_group
from signage_server.users.models import Role, User

MAX_ALERT_DURATION = timedelta(days=7)
# A withdrawal stays valid at least this long, so a player that reconnects a little later still obeys it.
WITHDRAWAL_MIN_VALIDITY = timedelta(hours=1)


class AlertPublisher(Protocol):
    """What the alert service needs from the broker side (TransportService provides it)."""

    def publish_alert(self, group: str, payload: bytes) -> None: ...

    def clear_alert(self, group: str) -> None: ...


def list_templates(session: Session) -> list[AlertTemplate]:
    return list(session.exec(select(AlertTemplate).order_by(col(AlertTemplate.key))).all())


# What an alert takes on a zoned screen (AlertBody.cover): the slides' zone only, or the whole screen.
COVERS: tuple[Literal["full", "main"], ...] = ("main", "full")


def set_cover(session: Session, *, actor: User, template_id: int, cover: str, now: datetime) -> AlertTemplate:
    """Templates are pre-approved wording, so changing what one covers is an admin's decision, audited."""
    require_role(actor, Role.ADMIN)
    template = session.get(AlertTemplate, template_id)
    if template is None:
        raise NotFound("alert template", template_id)
    if cover not in COVERS:
        raise Invalid("an alert covers the main zone (main) or the whole screen (full), not %(value)s",
                      field="cover", params={"value": repr(cover)[:40]})
    if template.cover == cover:
        return template
    before = template.cover
    template.cover = cover
    session.add(template)
    session.flush()
    audit.record(session, actor=actor, action="alert_template.cover", entity="alert_template",
                 entity_id=template.id, before={"key": template.key, "cover": before},
                 after={"key": template.key, "cover": cover}, now=now)
    return template


def get_alert(session: Session, *, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("alert", alert_id)
    return alert


def _next_version(session: Session, *, now: datetime) -> int:
    """Take the sequence row's lock until commit, so concurrent launches and withdrawals queue in version order.

    Never below the clock's seconds: a restored older database still issues versions above what players
    accepted since the backup (unless more than one alert a second was sustained since then).
    """
    sequence = session.exec(select(AlertSequence).where(AlertSequence.id == 1).with_for_update()
                            .execution_options(populate_existing=True)).first()
    if sequence is None:  # only if the row was deleted by hand: rebuild it from what was issued
        launched = session.exec(select(func.max(Alert.version))).one() or 0
        withdrawn = session.exec(select(func.max(Alert.withdrawal_version))).one() or 0
        sequence = AlertSequence(id=1, last_version=max(int(launched), int(withdrawn)))
    sequence.last_version = max(sequence.last_version + 1, int(now.timestamp()))
    session.add(sequence)
    session.flush()
    return sequence.last_version


def _resolve(session: Session, *, group_ids: list[int], screen_ids: list[int]) -> tuple[list[int], list[str]]:
    """Targeted screen ids (revoked ones left out) and the alert topics that reach exactly them.

    Ids, not Screen rows: loading a thousand screens was most of a national launch's time in the database.
    """
    chosen: set[int] = set()
    topics: list[str] = []
    for gid in dict.fromkeys(group_ids):
        if session.get(ScreenGroup, gid) is None:
            raise NotFound("screen group", gid)
        topics.append(group_wire_id(gid))
        chosen.update(session.exec(select(ScreenGroupLink.screen_id).join(
            Screen, col(Screen.id) == col(ScreenGroupLink.screen_id)).where(
            ScreenGroupLink.group_id == gid, col(Screen.enrolment) != Enrolment.REVOKED)).all())
    for sid in dict.fromkeys(screen_ids):
        single = session.get(Screen, sid)
        if single is None:
            raise NotFound("screen", sid)
        if single.enrolment == Enrolment.REVOKED:
            raise Invalid("screen %(id)s is revoked", field="screen_ids", params={"id": sid})
        if sid not in chosen:
            topics.append(single_screen_group(sid))
            chosen.add(sid)
    return sorted(chosen), topics


def _body(alert: Alert, *, action: Literal["show", "withdraw"], version: int, issued_at: datetime,
          expires_at: datetime, screen_ids: Iterable[int], cover: str = "full") -> AlertBody:
    """The one signed alert body every targeted player parses (the model checks `cover` at run time)."""
    return AlertBody(
        alert_id=str(alert.id), action=action, captions=dict(alert.captions),
        cover=cast(Literal["full", "main"], cover),
        screen_ids=tuple(sorted(screen_wire_id(s) for s in screen_ids)), version=version,
        issued_at=issued_at, expires_at=expires_at,
    )


def target_screens(session: Session, *, group_ids: list[int], screen_ids: list[int]) -> list[Screen]:
    """The screens an alert to these groups and screens reaches (the confirm page previews each)."""
    ids = _resolve(session, group_ids=group_ids, screen_ids=screen_ids)[0]
    return list(session.exec(select(Screen).where(col(Screen.id).in_(ids)).order_by(col(Screen.id))).all())


MAX_ALERT_TEXT = 1000


def alert_captions(template: AlertTemplate, custom: dict[str, str] | None) -> dict[str, str]:
    """The template's text per language, each replaced by the approver's own text where one was written."""
    configured = registry().by_code
    # A language taken out of languages.toml after the template was written cannot be shown by any
    # player (they refuse codes they lack), so its text stays in the template but leaves the alert.
    captions = {lang: text for lang, text in template.captions.items() if lang in configured}
    for lang, text in (custom or {}).items():
        clean = " ".join(text.split())
        if lang not in configured:
            raise Invalid("unknown language %(lang)s", field="captions", params={"lang": repr(lang)})
        if len(clean) > MAX_ALERT_TEXT:
            raise Invalid("alert text is longer than %(max)s characters", field="captions",
                          params={"max": MAX_ALERT_TEXT})
        if clean:
            captions[lang] = clean
    return captions


def launch(
    session: Session, *, actor: User, template_id: int, group_ids: list[int], screen_ids: list[int],
    expires_at: datetime, key: SigningKey, publisher: AlertPublisher, now: datetime,
    captions: dict[str, str] | None = None,
) -> Alert:
    """Sign one alert for every targeted screen and publish it retained on each target's alert topic.

    captions: the approver's own text per language, over the template's (blank keeps the template's).
    """
    require_role(actor, Role.APPROVER)
    template = session.get(AlertTemplate, template_id)
    if template is None:
        raise NotFound("alert template", template_id)
    if not group_ids and not screen_ids:
        raise Invalid("choose at least one screen or group", field="screen_ids")
    if expires_at.tzinfo is None:
        raise Invalid("expires_at needs a timezone", field="expires_at")
    if expires_at <= now:
        raise Invalid("expires_at must be in the future", field="expires_at")
    if expires_at - now > MAX_ALERT_DURATION:
        raise Invalid("an alert lasts at most %(days)s days", field="expires_at",
                      params={"days": MAX_ALERT_DURATION.days})
    target_ids, topics = _resolve(session, group_ids=group_ids, screen_ids=screen_ids)
    if not target_ids:
        raise Invalid("the chosen groups hold no active screens", field="group_ids")
    version = _next_version(session, now=now)
    alert = Alert(template_id=template_id, version=version, captions=alert_captions(template, captions),
                  group_ids=list(dict.fromkeys(group_ids)), screen_ids=list(dict.fromkeys(screen_ids)),
                  topics=topics, issued_at=now, expires_at=expires_at, launched_by=actor.id, envelope="")
    session.add(alert)
    session.flush()
    envelope = sign_envelope(EnvelopeKind.ALERT, _body(
        alert, action="show", version=alert.version, issued_at=now, expires_at=expires_at,
        screen_ids=target_ids, cover=template.cover), key)
    alert.envelope = envelope.to_json().decode("utf-8")
    session.add(alert)
    session.flush()
    # One executemany for the whole fan-out: a national alert targets thousands of screens.
    session.execute(insert(AlertTarget), [{"alert_id": saved_id(alert), "screen_id": sid}
                                              for sid in target_ids])
    audit.record(session, actor=actor, action="alert.launch", entity="alert", entity_id=alert.id,
                 before=None, after={"template": template.key, "version": alert.version, "topics": topics,
                                     "captions": dict(alert.captions),
                                     "screen_ids": target_ids, "expires_at": expires_at.isoformat()}, now=now)
    payload = alert.envelope.encode("utf-8")
    for topic in topics:
        publisher.publish_alert(topic, payload)
    return alert


def _active_on(session: Session, topic: str, *, now: datetime, excluding: int | None) -> Alert | None:
    active = session.exec(select(Alert).where(
        col(Alert.withdrawn_at).is_(None), col(Alert.expires_at) > now).order_by(col(Alert.version).desc())).all()
    return next((a for a in active if a.id != excluding and topic in a.topics), None)


def active_on_group(session: Session, *, group_id: int, now: datetime) -> Alert | None:
    """A launched alert still in force on the group's topic: its withdrawal must still reach every member."""
    return _active_on(session, group_wire_id(group_id), now=now, excluding=None)


def _settle(session: Session, topics: Iterable[str], publisher: AlertPublisher, *, now: datetime,
            excluding: int | None) -> None:
    """Leave on each topic's retained slot the newest alert still running there, or nothing."""
    for topic in topics:
        other = _active_on(session, topic, now=now, excluding=excluding)
        if other is not None:
            publisher.publish_alert(topic, other.envelope.encode("utf-8"))
        else:
            publisher.clear_alert(topic)


def withdraw(
    session: Session, *, actor: User, alert_id: int, key: SigningKey, publisher: AlertPublisher, now: datetime
) -> Alert:
    """Publish a signed withdrawal to the screens that are listening, then drop the retained alert."""
    require_role(actor, Role.APPROVER)
    # The version lock first: a second approver withdrawing the same alert waits, then sees it withdrawn.
    version = _next_version(session, now=now)
    alert = get_alert(session, alert_id=alert_id)
    session.refresh(alert)
    if alert.withdrawn_at is not None:
        raise Conflict("alert %(id)s was already withdrawn at %(at)s", details={"entity": "alert"},
                       params={"id": alert_id, "at": alert.withdrawn_at.isoformat()})
    targets = session.exec(select(AlertTarget.screen_id).where(AlertTarget.alert_id == alert_id)).all()
    envelope = sign_envelope(EnvelopeKind.ALERT, _body(
        alert, action="withdraw", version=version, issued_at=now,
        expires_at=max(alert.expires_at, now + WITHDRAWAL_MIN_VALIDITY), screen_ids=targets), key)
    alert.withdrawn_at, alert.withdrawn_by, alert.withdrawal_version = now, actor.id, version
    session.add(alert)
    session.flush()
    audit.record(session, actor=actor, action="alert.withdraw", entity="alert", entity_id=alert.id,
                 before={"version": alert.version}, after={"withdrawal_version": version}, now=now)
    payload = envelope.to_json()
    for topic in alert.topics:
        publisher.publish_alert(topic, payload)
    _settle(session, alert.topics, publisher, now=now, excluding=alert.id)
    return alert


def clear_expired(session: Session, *, publisher: AlertPublisher, now: datetime) -> list[int]:
    """Drop expired alerts' retained copies so a screen that connects later does not even receive them."""
    due = session.exec(select(Alert).where(
        col(Alert.withdrawn_at).is_(None), col(Alert.cleared_at).is_(None), col(Alert.expires_at) <= now)).all()
    for alert in due:
        _settle(session, alert.topics, publisher, now=now, excluding=alert.id)
        alert.cleared_at = now
        session.add(alert)
    session.flush()
    return [saved_id(a) for a in due]


def republish_active(session: Session, *, publisher: AlertPublisher, now: datetime) -> int:
    """After a broker restart: put each running alert back in its topics' retained slots."""
    active = session.exec(select(Alert).where(col(Alert.withdrawn_at).is_(None), col(Alert.expires_at) > now)).all()
    topics = sorted({t for a in active for t in a.topics})
    _settle(session, topics, publisher, now=now, excluding=None)
    return len(topics)


def record_ack(session: Session, *, screen_id: int, ack: AlertAck, received_at: datetime) -> AlertTarget | None:
    """The first ack of a targeted screen counts; repeats and strays are ignored (None)."""
    return record_acks(session, acks=[(screen_id, ack, received_at)])[0]


def record_acks(session: Session, *, acks: Sequence[tuple[int, AlertAck, datetime]]) -> list[AlertTarget | None]:
    """Many acks (an alert's fan-in) with one read per alert and one flush; the same rules as one ack."""
    by_alert: dict[int, set[int]] = {}
    for screen_id, ack, _ in acks:
        if (alert_id := _alert_id(ack)) is not None:
            by_alert.setdefault(alert_id, set()).add(screen_id)
    targets: dict[tuple[int, int], AlertTarget] = {}
    for alert_id, screen_ids in by_alert.items():
        for row in session.exec(select(AlertTarget).where(
                AlertTarget.alert_id == alert_id, col(AlertTarget.screen_id).in_(screen_ids))).all():
            targets[(row.alert_id, row.screen_id)] = row
    out: list[AlertTarget | None] = []
    for screen_id, ack, received_at in acks:
        target = targets.get((_alert_id(ack) or 0, screen_id))
        if target is None or target.acked_at is not None:
            out.append(None)
            continue
        alert = session.get_one(Alert, target.alert_id)
        target.acked_at, target.shown_at, target.frame_hash = received_at, ack.shown_at, ack.frame_hash
        target.latency_ms = max(0, round((received_at - alert.issued_at).total_seconds() * 1000))
        session.add(target)
        out.append(target)
    session.flush()
    return out


def alerts_not_stored(session: Session, *, acks: Iterable[AlertAck]) -> set[str]:
    """The alert ids these acks name that no stored alert has (yet): a launch publishes before it commits."""
    named = {a.alert_id: alert_id for a in acks if (alert_id := _alert_id(a)) is not None}
    if not named:
        return set()
    stored = set(session.exec(select(Alert.id).where(col(Alert.id).in_(set(named.values())))).all())
    return {text for text, alert_id in named.items() if alert_id not in stored}


def _alert_id(ack: AlertAck) -> int | None:
    """The alert an ack names, or None for a stray (not a number, or beyond any stored id)."""
    if not ack.alert_id.isascii() or not ack.alert_id.isdigit() or len(ack.alert_id) > 10:
        return None
    value = int(ack.alert_id)
    return value if value <= INT_MAX else None


@dataclass(frozen=True, slots=True)
class AlertReport:
    alert: Alert
    template: AlertTemplate
    state: str  # active | expired | withdrawn
    targets: list[tuple[AlertTarget, Screen]]


def report(session: Session, *, alert_id: int, now: datetime) -> AlertReport:
    """Which screens confirmed the alert and how fast, for the approver watching it go out."""
    alert = get_alert(session, alert_id=alert_id)
    # Only what the report shows of each screen: a national alert's report lists thousands.
    rows = session.exec(select(AlertTarget, Screen).join(Screen, col(Screen.id) == col(AlertTarget.screen_id)).where(
        AlertTarget.alert_id == alert_id).order_by(col(AlertTarget.screen_id)).options(
        load_only(Screen.id, Screen.name, Screen.display_name))).all()  # type: ignore[arg-type]
    state = "withdrawn" if alert.withdrawn_at else ("expired" if now >= alert.expires_at else "active")
    return AlertReport(alert, session.get_one(AlertTemplate, alert.template_id), state, [(t, s) for t, s in rows])
