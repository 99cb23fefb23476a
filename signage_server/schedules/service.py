"""Schedules: which playlist plays on which screens or groups; the rule is signage_core's ScheduleRule, checked on every write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, delete, select

from signage_core.lunar import solar_to_lunar
from signage_core.schedule import (
    LunarDate,
    ScheduleRule,
    evaluate,
    from_local,
    require_aware,
    timeline,
    to_local,
)
from signage_server.audit import service as audit
from signage_server.db import saved_id
from signage_server.errors import Conflict, Invalid, NotFound
from signage_server.manifests import changes
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.playlists.models import Playlist
from signage_server.schedules.models import Schedule, ScheduleGroupLink, ScheduleScreenLink
from signage_server.screens.models import Screen, ScreenGroup, ScreenGroupLink
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
            raise Conflict("schedule %(name)s exists", details={"field": "name"}, params={"name": repr(name)})
        schedule.name = name
    if "playlist_id" in fields:
        if session.get(Playlist, fields["playlist_id"]) is None:
            raise NotFound("playlist", fields["playlist_id"])
        schedule.playlist_id = fields["playlist_id"]
    if "priority" in fields:
        priority = fields["priority"]
        if not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
            raise Invalid("priority must be 0-%(max)s", field="priority", params={"max": MAX_PRIORITY})
        schedule.priority = priority
    if "rule" in fields:
        if not isinstance(fields["rule"], dict):
            raise Invalid("rule must be an object", field="rule")
        schedule.rule = fields["rule"]
    # The stored rule is signage_core's ScheduleRule minus what the row itself carries.
    schedule.rule = check_rule(schedule.rule, schedule_id=schedule.id, playlist_id=schedule.playlist_id,
                               priority=schedule.priority)


# Carried by the schedule row itself, so a rule object must not repeat them.
_ROW_FIELDS = ("id", "playlist_id", "priority")


def check_rule(rule: dict[str, Any], *, schedule_id: int | None, playlist_id: int, priority: int) -> dict[str, Any]:
    """Validate with the evaluator's own model (422 naming the field) and return its normal JSON form."""
    for key in _ROW_FIELDS:
        if key in rule:
            raise Invalid("rule.%(key)s is set by the schedule itself; leave it out of the rule", field=f"rule.{key}",
                          params={"key": key})
    try:
        parsed = ScheduleRule.model_validate(
            {**rule, "id": str(schedule_id or "new"), "playlist_id": str(playlist_id or "new"), "priority": priority})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in ("rule", *first["loc"]) if not str(part).startswith("function-"))
        # type and ctx let the pages say it in their language (signage_server.i18n.errors).
        raise Invalid(f"{where}: {first['msg']}", field=where,
                      details={"errors": [{"field": ".".join(str(p) for p in ("rule", *e["loc"])), "message": e["msg"],
                                           "type": e["type"],
                                           "ctx": {k: str(v) for k, v in (e.get("ctx") or {}).items()}}
                                          for e in exc.errors()]}) from None
    dumped = parsed.model_dump(mode="json", exclude=set(_ROW_FIELDS))
    if "weekdays" in dumped and dumped["weekdays"] is not None:
        dumped["weekdays"] = sorted(dumped["weekdays"])
    return dumped


def rule_of(schedule: Schedule) -> ScheduleRule:
    """The evaluator's view of a stored schedule; ids are strings of the database ids."""
    return rule_from(saved_id(schedule), schedule.rule, schedule.playlist_id, schedule.priority)


def rule_from(schedule_id: int, rule: Mapping[str, Any], playlist_id: int, priority: int) -> ScheduleRule:
    """rule_of from the row's columns (the compiler reads thousands without building ORM objects)."""
    return ScheduleRule.model_validate({**rule, "id": str(schedule_id), "playlist_id": str(playlist_id),
                                        "priority": priority})


def schedules_for_screen(session: Session, *, screen_id: int) -> list[Schedule]:
    """Schedules aimed at a screen directly or through any of its groups, each once, by id."""
    direct = select(Schedule).join(ScheduleScreenLink, col(ScheduleScreenLink.schedule_id) == col(Schedule.id)).where(
        ScheduleScreenLink.screen_id == screen_id)
    via_group = (
        select(Schedule)
        .join(ScheduleGroupLink, col(ScheduleGroupLink.schedule_id) == col(Schedule.id))
        .join(ScreenGroupLink, col(ScreenGroupLink.group_id) == col(ScheduleGroupLink.group_id))
        .where(ScreenGroupLink.screen_id == screen_id)
    )
    found = {s.id: s for s in [*session.exec(direct).all(), *session.exec(via_group).all()]}
    return [found[k] for k in sorted(found)]  # type: ignore[type-var]


def schedule_ids_for_screen(session: Session, *, screen_id: int) -> list[int]:
    """Ids of the schedules aimed at a screen directly or through its groups (cheap: no rows loaded)."""
    direct = select(ScheduleScreenLink.schedule_id).where(ScheduleScreenLink.screen_id == screen_id)
    via_group = (
        select(ScheduleGroupLink.schedule_id)
        .join(ScreenGroupLink, col(ScreenGroupLink.group_id) == col(ScheduleGroupLink.group_id))
        .where(ScreenGroupLink.screen_id == screen_id)
    )
    return sorted({*session.exec(direct).all(), *session.exec(via_group).all()})


def schedules_for_group(session: Session, *, group_id: int) -> list[Schedule]:
    """Schedules aimed at a group, by name."""
    query = select(Schedule).join(ScheduleGroupLink, col(ScheduleGroupLink.schedule_id) == col(Schedule.id)).where(
        ScheduleGroupLink.group_id == group_id).order_by(col(Schedule.name))
    return list(session.exec(query).all())


def screens_of_schedule(session: Session, *, schedule_id: int) -> set[int]:
    """Screen ids a schedule reaches, directly or through its groups."""
    direct = set(session.exec(select(ScheduleScreenLink.screen_id).where(ScheduleScreenLink.schedule_id == schedule_id)))
    via_group = set(session.exec(
        select(ScreenGroupLink.screen_id)
        .join(ScheduleGroupLink, col(ScheduleGroupLink.group_id) == col(ScreenGroupLink.group_id))
        .where(ScheduleGroupLink.schedule_id == schedule_id)))
    return direct | via_group


def _set_targets(session: Session, schedule_id: int, screen_ids: Sequence[int] | None,
                 group_ids: Sequence[int] | None) -> None:
    old_screens, old_groups = targets_of(session, schedule_id=schedule_id)
    if screen_ids is not None:
        for index, sid in enumerate(screen_ids):
            if session.get(Screen, sid) is None:
                raise Invalid("screen %(id)s does not exist", field=f"screen_ids.{index}", params={"id": sid})
        # A bulk delete leaves the ORM nothing to see: the screens it unlinks are named for the recompiler.
        changes.note_changes(session, kind="screen", ids=old_screens)
        session.exec(delete(ScheduleScreenLink).where(col(ScheduleScreenLink.schedule_id) == schedule_id))
        for sid in dict.fromkeys(screen_ids):
            session.add(ScheduleScreenLink(schedule_id=schedule_id, screen_id=sid))
    if group_ids is not None:
        for index, gid in enumerate(group_ids):
            if session.get(ScreenGroup, gid) is None:
                raise Invalid("group %(id)s does not exist", field=f"group_ids.{index}", params={"id": gid})
        changes.note_changes(session, kind="group", ids=old_groups)
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
            raise Invalid("%(field)s is required", field=required, params={"field": required})
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
    old_playlist = schedule.playlist_id
    _apply(session, schedule, fields)
    if schedule.playlist_id != old_playlist:  # the old playlist's slides may become publishable elsewhere
        changes.note_changes(session, kind="playlist", ids=[old_playlist])
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
    changes.note_changes(session, kind="playlist", ids=[schedule.playlist_id])
    _set_targets(session, schedule_id, [], [])
    session.delete(schedule)
    session.flush()
    audit.record(session, actor=actor, action="schedule.delete", entity="schedule", entity_id=schedule_id,
                 before=before, after=None, now=now)


MAX_TIMELINE = timedelta(days=93)


@dataclass(frozen=True)
class TimelineEntry:
    """One stretch of a screen's timeline with the schedules behind it and its lunar date."""

    start: datetime
    end: datetime
    playlist_ids: list[int]
    schedule_ids: list[int]
    priority: int | None
    is_default: bool
    lunar_date: str  # lunar day/month of the local start day, "1/1" on Tết ("1/4 nhuận" in a leap month)
    calendar_dates: list[str]  # the rules' solar/lunar dates that made this stretch, labelled


@dataclass(frozen=True)
class ScreenTimeline:
    entries: list[TimelineEntry]
    conflicts: list[TimelineEntry]  # equal-priority overlaps of different playlists (they interleave)


def _date_label(rule: ScheduleRule, day: date) -> list[str]:
    out = []
    for d in rule.dates:
        if d.matches(day):
            out.append(f"{'âm lịch' if isinstance(d, LunarDate) else 'dương lịch'} {d.day}/{d.month}")
    return out


def lunar_label(day: date) -> str:
    """The lunar day/month of a local day as the pages print it: "1/1" on Tết, "1/4 nhuận" in a leap month."""
    lunar = solar_to_lunar(day)
    return f"{lunar.day}/{lunar.month}" + (" nhuận" if lunar.leap else "")


def _day_pieces(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at each local midnight, so each piece lies within one local day."""
    pieces = []
    lo = start
    while lo < end:
        midnight = from_local(datetime.combine(to_local(lo).date() + timedelta(days=1), datetime.min.time()))
        hi = min(end, midnight)
        pieces.append((lo, hi))
        lo = hi
    return pieces


def screen_timeline(session: Session, *, screen_id: int, start: datetime, end: datetime,
                    split_days: bool = False) -> ScreenTimeline:
    """What plays on a screen between start and end, from the shared evaluator.

    split_days cuts stretches at local midnight (the week calendar), so each one's lunar date and rule
    dates are its own day's, not those of the day a long stretch started on.
    """
    screen = session.get(Screen, screen_id)
    if screen is None:
        raise NotFound("screen", screen_id)
    try:
        start_utc, end_utc = require_aware(start, "start"), require_aware(end, "end")
    except ValueError as exc:
        raise Invalid("start and end need their time zone (UTC offset)", field="start") from exc
    if end_utc <= start_utc:
        raise Invalid("end must be after start", field="end")
    if end_utc - start_utc > MAX_TIMELINE:
        raise Invalid("at most %(days)s days at a time", field="end", params={"days": MAX_TIMELINE.days})
    rules = [rule_of(s) for s in schedules_for_screen(session, screen_id=screen_id)]
    by_id = {r.id: r for r in rules}
    # No default playlist: label the gap 0 so the calendar shows "nothing" rather than guessing.
    default = str(screen.default_playlist_id or 0)
    entries = []
    for segment in timeline(rules, default, start_utc, end_utc):
        pieces = _day_pieces(segment.start, segment.end) if split_days else [(segment.start, segment.end)]
        for lo, hi in pieces:
            resolution = evaluate(rules, default, lo)
            day = to_local(lo).date()
            labels = sorted({label for rid in resolution.rule_ids for label in _date_label(by_id[rid], day)})
            entries.append(TimelineEntry(
                start=lo, end=hi, playlist_ids=[int(p) for p in segment.playlist_ids],
                schedule_ids=[int(r) for r in resolution.rule_ids], priority=resolution.priority,
                is_default=segment.is_default, lunar_date=lunar_label(day), calendar_dates=labels))
    return ScreenTimeline(entries, [e for e in entries if len(e.playlist_ids) > 1])
