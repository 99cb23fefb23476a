"""HTTP for screen health, screenshots and proof of play (read-only: screens report over MQTT)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from signage_server.db import saved_id
from signage_server.deps import CurrentUser, NowDep, SessionDep, SettingsDep
from signage_server.errors import Invalid
from signage_server.pagination import Page, PageDep
from signage_server.telemetry import service
from signage_server.telemetry.models import SPLIT_UNKNOWN
from signage_server.telemetry.schemas import (
    HeartbeatRead,
    PlayLogRead,
    ScreenshotInfo,
    ScreenStatusRead,
    SegmentRead,
)

router = APIRouter(tags=["telemetry"])


def _out(status: service.ScreenStatus) -> ScreenStatusRead:
    sid = saved_id(status.screen)
    shot = status.screenshot
    return ScreenStatusRead(
        screen_id=sid, name=status.screen.name, enrolment=str(status.screen.enrolment), state=status.state,
        since=status.presence.since if status.presence else None,
        last_seen=status.presence.last_seen if status.presence else None,
        agent_version=status.presence.agent_version if status.presence else None,
        heartbeat=HeartbeatRead.model_validate(status.heartbeat) if status.heartbeat else None,
        screenshot=ScreenshotInfo(
            taken_at=shot.taken_at, received_at=shot.received_at, content_type=shot.content_type, size=shot.size,
            url=f"/api/v1/screens/{sid}/screenshot", thumbnail_url=f"/api/v1/screens/{sid}/screenshot?thumbnail=true",
        ) if shot else None,
    )


@router.get("/screens/status")
def all_statuses(session: SessionDep, user: CurrentUser, settings: SettingsDep, now: NowDep) -> list[ScreenStatusRead]:
    return [_out(s) for s in service.all_statuses(
        session, now=now, interval=timedelta(seconds=settings.heartbeat_interval_s),
        missed=settings.heartbeats_missed_offline)]


@router.get("/screens/{screen_id}/status")
def screen_status(screen_id: int, session: SessionDep, user: CurrentUser, settings: SettingsDep,
                  now: NowDep) -> ScreenStatusRead:
    return _out(service.screen_status(session, screen_id=screen_id, now=now,
                                      interval=timedelta(seconds=settings.heartbeat_interval_s),
                                      missed=settings.heartbeats_missed_offline))


@router.get("/screens/{screen_id}/screenshot", response_class=FileResponse)
def screenshot(screen_id: int, session: SessionDep, user: CurrentUser, settings: SettingsDep,
               thumbnail: bool = False) -> FileResponse:
    path, media_type = service.screenshot_file(session, screen_id=screen_id, root=settings.screenshots_dir,
                                               thumbnail=thumbnail)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.get("/playlog", response_model=Page[PlayLogRead])
def play_log(
    session: SessionDep, user: CurrentUser, page: PageDep, now: NowDep,
    screen: int | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Page[PlayLogRead]:
    """Defaults to the last 24 hours; times need a timezone."""
    end = end or now
    start = start or end - timedelta(days=1)
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise Invalid("%(field)s needs a time zone (e.g. 2026-03-01T00:00:00Z)", field=name, params={"field": name})
    items, total = service.play_log(session, screen_id=screen, start=start, end=end,
                                    limit=page.limit, offset=page.offset)
    segments = service.segments_of(session, play_ids=[i.id for i in items if i.id is not None])
    rows = [PlayLogRead.model_validate(i).model_copy(update={"segments": None if i.language_split == SPLIT_UNKNOWN else [
        SegmentRead.model_validate(seg) for seg in segments.get(saved_id(i), [])]}) for i in items]
    return Page(items=rows, total=total, limit=page.limit, offset=page.offset)
