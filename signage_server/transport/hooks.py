"""Keep broker accounts in step with screen changes, after the change is committed (never for a rollback)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Session

from signage_server.db import saved_id
from signage_server.screens import service as screens
from signage_server.screens.models import Enrolment, Screen
from signage_server.transport.service import TransportService
from signage_server.users.models import User

log = logging.getLogger(__name__)


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run fn once the session commits; a broker hiccup is logged (start-up reconciliation repairs it)."""

    def run(_session: Session) -> None:
        try:
            fn()
        except Exception:  # the DB change stands; the broker catches up at the next reconcile
            log.exception("broker update after commit failed")

    event.listen(session, "after_commit", run, once=True)


def screen_changed(transport: TransportService | None, session: Session, screen: Screen, *,
                   groups_before: list[int] | None) -> None:
    """Revoked: cut the screen off now. Enrolled with new groups: regroup its account (which kicks it)."""
    if transport is None:
        return
    screen_id = saved_id(screen)
    groups = sorted(saved_id(g) for g in screen.groups)
    if screen.enrolment == Enrolment.REVOKED:
        after_commit(session, lambda: transport.revoke(screen_id))
    elif screen.enrolment == Enrolment.ENROLLED and groups_before is not None and groups != sorted(groups_before):
        after_commit(session, lambda: transport.sync_groups(screen_id, groups))


def delete_group(transport: TransportService | None, session: Session, *, actor: User, group_id: int,
                 now: datetime) -> None:
    """screens.delete_group, then each former member's broker account regrouped once that commits."""
    members = {saved_id(s): [saved_id(g) for g in s.groups] for s in screens.get_group(session, group_id=group_id).screens}
    screens.delete_group(session, actor=actor, group_id=group_id, now=now)
    for screen_id, before in members.items():
        screen = screens.get_screen(session, screen_id=screen_id)
        session.refresh(screen, ["groups"])
        screen_changed(transport, session, screen, groups_before=before)
