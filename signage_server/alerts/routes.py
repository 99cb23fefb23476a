"""HTTP for urgent alerts: templates, launch, withdraw, and who confirmed."""

from __future__ import annotations

from fastapi import APIRouter, status

from signage_server.alerts import service
from signage_server.alerts.schemas import AlertLaunch, AlertRead, AlertTargetRead, TemplateRead
from signage_server.db import saved_id
from signage_server.deps import BrokerDep, CurrentUser, NowDep, SessionDep, SigningKeyDep
from signage_server.permissions import require_role
from signage_server.users.models import Role

router = APIRouter(tags=["alerts"])

def _out(report: service.AlertReport) -> AlertRead:
    a = report.alert
    latencies = sorted(t.latency_ms for t, _ in report.targets if t.latency_ms is not None)
    return AlertRead(
        id=saved_id(a), template=report.template.key, version=a.version, state=report.state, captions=a.captions,
        group_ids=a.group_ids, screen_ids=a.screen_ids, topics=a.topics, issued_at=a.issued_at,
        expires_at=a.expires_at, withdrawn_at=a.withdrawn_at, confirmed=len(latencies), total=len(report.targets),
        latency_p50_ms=latencies[(len(latencies) - 1) // 2] if latencies else None,
        latency_max_ms=latencies[-1] if latencies else None,
        targets=[AlertTargetRead(screen_id=t.screen_id, name=s.name, confirmed=t.acked_at is not None,
                                 acked_at=t.acked_at, shown_at=t.shown_at, frame_hash=t.frame_hash,
                                 latency_ms=t.latency_ms) for t, s in report.targets],
    )


@router.get("/alert-templates")
def list_templates(session: SessionDep, user: CurrentUser) -> list[TemplateRead]:
    return [TemplateRead.model_validate(t) for t in service.list_templates(session)]


@router.post("/alerts", status_code=status.HTTP_201_CREATED)
def launch(body: AlertLaunch, session: SessionDep, user: CurrentUser, key: SigningKeyDep, broker: BrokerDep,
           now: NowDep) -> AlertRead:
    require_role(user, Role.APPROVER)  # before the broker check: a wrong role is a 403 whatever the broker
    alert = service.launch(session, actor=user, template_id=body.template_id, group_ids=body.group_ids,
                           screen_ids=body.screen_ids, expires_at=body.expires_at, key=key,
                           publisher=broker.require(needed_for="an alert"), now=now)
    return _out(service.report(session, alert_id=saved_id(alert), now=now))


@router.post("/alerts/{alert_id}/withdraw")
def withdraw(alert_id: int, session: SessionDep, user: CurrentUser, key: SigningKeyDep, broker: BrokerDep,
             now: NowDep) -> AlertRead:
    require_role(user, Role.APPROVER)
    service.withdraw(session, actor=user, alert_id=alert_id, key=key, publisher=broker.require(needed_for="an alert"),
                     now=now)
    return _out(service.report(session, alert_id=alert_id, now=now))


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> AlertRead:
    return _out(service.report(session, alert_id=alert_id, now=now))
