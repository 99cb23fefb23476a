"""What the department did in the period, besides airtime: content approved per language, urgent alerts.

Approvals are counted from the audit log (append-only), so a caption approved in March and edited in
June still counts for March: the report says what was approved in its period, not what is approved now.
Alongside, the stock: captions approved as they stand today, per language.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from sqlmodel import Session, col, select

from signage_server.alerts.models import Alert, AlertTarget, AlertTemplate
from signage_server.audit.models import AuditEvent
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.db import saved_id
from signage_server.reports.intervals import Interval
from signage_server.reports.service import LANGUAGES


@dataclass(frozen=True, slots=True)
class LanguageCount:
    """Per language: captions approved during the period, slides approved carrying that language, and
    captions approved as they stand at the end (the stock the screens can show)."""

    language: str
    captions_approved: int
    slides_approved: int
    captions_in_force: int


@dataclass(frozen=True, slots=True)
class AlertRow:
    issued_at: datetime
    name: str
    screens: int
    acked: int
    median_ack_s: float | None
    max_ack_s: float | None
    withdrawn: bool


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """Urgent alerts launched in the period and how fast the screens confirmed them (launch to ack)."""

    alerts: int
    targets: int
    acked: int
    median_ack_s: float | None
    max_ack_s: float | None
    rows: list[AlertRow]


def content_counts(session: Session, *, window: Interval) -> list[LanguageCount]:
    lo, hi = window
    events = session.exec(select(AuditEvent).where(
        col(AuditEvent.action).in_(("caption.approve", "slide.approve")), col(AuditEvent.at) >= lo,
        col(AuditEvent.at) < hi)).all()
    captions: Counter[str] = Counter()
    approved_slides: set[int] = set()
    for event in events:
        if event.action == "caption.approve":
            captions[str((event.after or {}).get("language", ""))] += 1
        elif event.entity_id.isdigit():
            approved_slides.add(int(event.entity_id))
    slides: Counter[str] = Counter()
    in_force: Counter[str] = Counter()
    for cap in session.exec(select(CaptionRevision).where(
            col(CaptionRevision.state).in_((CaptionState.APPROVED, CaptionState.RETIRED)))).all():
        if cap.slide_id in approved_slides and cap.state == CaptionState.APPROVED:
            slides[cap.language] += 1
        # In force at the period's end: approved before it, and still live then (a retired revision was
        # replaced when it was last updated).
        live_then = cap.state == CaptionState.APPROVED or cap.updated_at >= hi
        if live_then and (cap.approved_at is None or cap.approved_at < hi):
            in_force[cap.language] += 1
    langs = list(LANGUAGES) + sorted((set(captions) | set(in_force)) - set(LANGUAGES) - {""})
    return [LanguageCount(lang, captions[lang], slides[lang], in_force[lang]) for lang in langs]


def alert_summary(session: Session, *, window: Interval) -> AlertSummary:
    lo, hi = window
    alerts = session.exec(select(Alert).where(col(Alert.issued_at) >= lo, col(Alert.issued_at) < hi).order_by(
        col(Alert.issued_at))).all()
    names = {t.id: t.name for t in session.exec(select(AlertTemplate)).all()}
    ids = [a.id for a in alerts]
    targets: dict[int, list[AlertTarget]] = {}
    if ids:
        for target in session.exec(select(AlertTarget).where(col(AlertTarget.alert_id).in_(ids))).all():
            targets.setdefault(target.alert_id, []).append(target)
    rows: list[AlertRow] = []
    every: list[float] = []
    total_targets = total_acked = 0
    for alert in alerts:
        mine = targets.get(saved_id(alert), [])
        waits = [t.latency_ms / 1000 for t in mine if t.acked_at is not None and t.latency_ms is not None]
        acked = sum(1 for t in mine if t.acked_at is not None)
        every += waits
        total_targets += len(mine)
        total_acked += acked
        rows.append(AlertRow(alert.issued_at, names.get(alert.template_id, f"#{alert.template_id}"), len(mine),
                             acked, median(waits) if waits else None, max(waits) if waits else None,
                             alert.withdrawn_at is not None))
    return AlertSummary(len(alerts), total_targets, total_acked, median(every) if every else None,
                        max(every) if every else None, rows)
