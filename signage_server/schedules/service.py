"""Schedules: which playlist plays on which screens or groups; the rule is validated by signage_core later."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from signage_server.audit import service as audit
from signage_server.errors import Conflict, Invalid, NotFound
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.playlists.models import Playlist
from signage_server.schedules.models import Schedule, ScheduleGroupLink, ScheduleScreenLink
from signage_server.screens.models import Screen, ScreenGroup
from signage_server.users.models import Role, User

MAX_PRIORITY = 1000


def get_schedule(session: Session, *, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("schedule", schedule_id)
    return schedule


def find_schedule(session: Session, *, name: str) -> Schedule | None:
    return session.exec(select(Schedule).where(Schedule.name == name)).first()


def list_schedules(session: Session, *, limit: int, offset: int) -> tuple[list[Schedule], int]:
    return paginate(session, select(Schedule).order_by(col(Schedule.name)), limit=limit, offset=offset)


def targets_of(session: Session, *, schedule_id: int) -> tuple[list[int], list[int]]:
    """(screen ids, group ids) the schedule targets."""
    screens = session.exec(select(ScheduleScreenLink.screen_id).where(ScheduleScreenLink.schedule_id == schedule_id))
    groups = session.exec(select(ScheduleGroupLink.group_id).where(ScheduleGroupLink.schedule_id == schedule_id))
    return sorted(screens.all()), sorted(groups.all())


def _snapshot(session: Session, schedule: Schedule) -> dict[str, Any]:
    data = audit.snapshot(schedule) or {}
    data["screen_ids"], data["group_ids"] = targets_of(session, schedule_id=schedule.id)  # type: ignore[arg-type]
    return data


def _apply(session: Session, schedule: Schedule, fields: dict[str, Any]) -> None:
    if "name" in fields:
        name = str(fields["name"]).strip()
        if not name or len(name) > 100:
            raise Invalid("name must be 1-100 characters", field="name")
        other = find_schedule(session, name=name)
        if other is not None and other.id != schedule.id:
            raise Conflict(f"schedule {name!r} exists", details={"field": "name"})
        schedule.name = name
    if "playlist_id" in fields:
        if session.get(Playlist, fields["playlist_id"]) is None:
            raise NotFound("playlist", fields["playlist_id"])
        schedule.playlist_id = fields["playlist_id"]
    if "priority" in fields:
        priority = fields["priority"]
        if not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
            raise Invalid(f"priority must be 0-{MAX_PRIORITY}", field="priority")
        schedule.priority = priority
    if "rule" in fields:
        if not isinstance(fields["rule"], dict):
            raise Invalid("rule must be an object", field="rule")
        schedule.rule = fields["rule"]


def _set_targets(session: Session, schedule_id: int, screen_ids: Sequence[int] | None,
                 group_ids: Sequence[int] | None) -> None:
    if screen_ids is not None:
        for index, sid in enumerate(screen_ids):
            if session.get(Screen, sid) is None:
                raise Invalid(f"screen {sid} does not exist", field=f"screen_ids.{index}")
        session.exec(delete(ScheduleScreenLink).where(col(ScheduleScreenLink.schedule_id) == schedule_id))
        for sid in dict.fromkeys(screen_ids):
            session.add(ScheduleScreenLink(schedule_id=schedule_id, screen_id=sid))
    if group_ids is not None:
        for index, gid in enumerate(group_ids):
            if session.get(ScreenGroup, gid) is None:
                raise Invalid(f"group {gid} does not exist", field=f"group_ids.{index}")
        session.exec(delete(ScheduleGroupLink).where(col(ScheduleGroupLink.schedule_id) == schedule_id))
        for gid in dict.fromkeys(group_ids):
            session.add(ScheduleGroupLink(schedule_id=schedule_id, group_id=gid))
    session.flush()


def create_schedule(
    session: Session, *, actor: User | None, fields: dict[str, Any], screen_ids: Sequence[int] = (),
    group_ids: Sequence[int] = (), now: datetime,
) -> Schedule:
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    for required in ("name", "playlist_id"):
        if required not in fields:
            raise Invalid(f"{required} is required", field=required)
    schedule = Schedule(name="", playlist_id=0, created_at=now, updated_at=now)
    _apply(session, schedule, fields)
    if not screen_ids and not group_ids:
        raise Invalid("a schedule needs at least one screen or group", field="screen_ids")
    session.add(schedule)
    session.flush()
    _set_targets(session, schedule.id, screen_ids, group_ids)  # type: ignore[arg-type]
    audit.record(session, actor=actor, action="schedule.create", entity="schedule", entity_id=schedule.id,
                 before=None, after=_snapshot(session, schedule), now=now)
    return schedule


def update_schedule(
    session: Session, *, actor: User | None, schedule_id: int, fields: dict[str, Any],
    screen_ids: Sequence[int] | None = None, group_ids: Sequence[int] | None = None, now: datetime,
) -> Schedule:
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    schedule = get_schedule(session, schedule_id=schedule_id)
    before = _snapshot(session, schedule)
    _apply(session, schedule, fields)
    _set_targets(session, schedule_id, screen_ids, group_ids)
    after = _snapshot(session, schedule)
    if not after["screen_ids"] and not after["group_ids"]:
        raise Invalid("a schedule needs at least one screen or group", field="screen_ids")
    if after == before:
        return schedule
    schedule.updated_at = now
    session.add(schedule)
    session.flush()
    audit.record(session, actor=actor, action="schedule.update", entity="schedule", entity_id=schedule.id,
                 before=before, after=_snapshot(session, schedule), now=now)
    return schedule


def delete_schedule(session: Session, *, actor: User, schedule_id: int, now: datetime) -> None:
    require_role(actor, Role.ADMIN, Role.OPERATOR)
    schedule = get_schedule(session, schedule_id=schedule_id)
    before = _snapshot(session, schedule)
    _set_targets(session, schedule_id, [], [])
    session.delete(schedule)
    session.flush()
    audit.record(session, actor=actor, action="schedule.delete", entity="schedule", entity_id=schedule_id,
                 before=before, after=None, now=now)
