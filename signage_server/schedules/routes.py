"""HTTP for schedules."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter, Response, status
from sqlmodel import Session

from signage_server.deps import CurrentUser, NowDep, SessionDep
from signage_server.errors import Invalid
from signage_server.pagination import Page, PageDep
from signage_server.schedules import service
from signage_server.schedules.models import Schedule
from signage_server.schedules.schemas import (
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
    TimelineRead,
    TimelineSegment,
)

router = APIRouter(tags=["schedules"])


def _out(session: Session, schedule: Schedule) -> ScheduleRead:
    screen_ids, group_ids = service.targets_of(session, schedule_id=schedule.id)  # type: ignore[arg-type]
    return ScheduleRead.model_validate({**schedule.model_dump(), "screen_ids": screen_ids, "group_ids": group_ids})


@router.get("/schedules", response_model=Page[ScheduleRead])
def list_schedules(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[ScheduleRead]:
    items, total = service.list_schedules(session, limit=page.limit, offset=page.offset)
    return Page(items=[_out(session, s) for s in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/schedules", status_code=status.HTTP_201_CREATED)
def create_schedule(body: ScheduleCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> ScheduleRead:
    fields = body.model_dump(exclude={"screen_ids", "group_ids"})
    schedule = service.create_schedule(session, actor=user, fields=fields, screen_ids=body.screen_ids,
                                       group_ids=body.group_ids, now=now)
    return _out(session, schedule)


@router.get("/schedules/{schedule_id}")
def get_schedule(schedule_id: int, session: SessionDep, user: CurrentUser) -> ScheduleRead:
    return _out(session, service.get_schedule(session, schedule_id=schedule_id))


@router.patch("/schedules/{schedule_id}")
def update_schedule(schedule_id: int, body: ScheduleUpdate, session: SessionDep, user: CurrentUser,
                    now: NowDep) -> ScheduleRead:
    fields = body.model_dump(exclude_unset=True, exclude={"screen_ids", "group_ids"})
    for key, value in fields.items():
        if value is None:
            raise Invalid("%(field)s cannot be null", field=key, params={"field": key})
    schedule = service.update_schedule(session, actor=user, schedule_id=schedule_id, fields=fields,
                                       screen_ids=body.screen_ids, group_ids=body.group_ids, now=now)
    return _out(session, schedule)


@router.delete("/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(schedule_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
    service.delete_schedule(session, actor=user, schedule_id=schedule_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/screens/{screen_id}/timeline")
def screen_timeline(screen_id: int, start: datetime, end: datetime, session: SessionDep,
                    user: CurrentUser) -> TimelineRead:
    """What plays when on a screen (for the calendar page); equal-priority overlaps listed as conflicts."""
    result = service.screen_timeline(session, screen_id=screen_id, start=start, end=end)
    return TimelineRead(screen_id=screen_id,
                        segments=[TimelineSegment.model_validate(asdict(e)) for e in result.entries],
                        conflicts=[TimelineSegment.model_validate(asdict(e)) for e in result.conflicts])
