"""The screens dashboard: every screen by site, refreshed by polling one JSON document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session, col, select

from signage_server.config import Settings
from signage_server.db import saved_id
from signage_server.deps import NowDep, SessionDep, app_settings
from signage_server.screens.brightness import BRIGHTNESS_SOURCES
from signage_server.screens.models import Site
from signage_server.slides.models import Slide
from signage_server.slides.service import screens_showing
from signage_server.telemetry import service as telemetry
from signage_server.users.models import Role
from signage_server.web import (
    AnyViewer,
    PageError,
    PageUser,
    Viewer,
    gettext_for,
    local_time,
    render,
    zone_named,
)

router = APIRouter(include_in_schema=False)
Approvers = Annotated[Viewer, PageUser(Role.APPROVER)]
POLL_SECONDS = 5


def _as_int(value: str | None) -> int | None:
    """Heartbeats carry ids and versions as wire strings; the server's are integers."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def screen_rows(session: Session, *, settings: Settings, now: datetime,
                only: set[int] | None = None) -> list[dict[str, Any]]:
    """One flat row per screen with everything the dashboard shows; `only` narrows to some screens."""
    statuses = telemetry.all_statuses(session, now=now, interval=timedelta(seconds=settings.heartbeat_interval_s),
                                      missed=settings.heartbeats_missed_offline)
    if only is not None:
        statuses = [s for s in statuses if saved_id(s.screen) in only]
    slide_ids = {_as_int(s.heartbeat.current_slide_id) for s in statuses if s.heartbeat} - {None}
    slide_names = {sl.id: sl.name for sl in session.exec(
        select(Slide).where(col(Slide.id).in_(sorted(slide_ids))))} if slide_ids else {}
    site_names = {site.id: site.name for site in session.exec(select(Site)).all()}
    alert_after = timedelta(minutes=settings.dashboard_offline_alert_minutes)
    # A thumbnail older than two of the players' periods no longer says what the screen shows.
    stale_after = timedelta(seconds=2 * settings.screenshot_period_s)
    zone = zone_named(settings.timezone)
    rows = []
    for status in statuses:
        sid = saved_id(status.screen)
        beat, shot, presence = status.heartbeat, status.screenshot, status.presence
        # The offline job may not have run yet: judge "since" from the last sighting then.
        dark_since = None
        if status.state == "offline" and presence is not None:
            dark_since = presence.since if presence.state == "offline" else presence.last_seen
        live = _as_int(beat.manifest_version) if beat else None
        slide_id = _as_int(beat.current_slide_id) if beat else None
        # The compiler sets it with each version it issues (0: none yet), so no manifest history is read.
        newest = status.screen.manifest_version or None
        since = dark_since if dark_since is not None else (presence.since if presence else None)
        rows.append({
            "id": sid, "name": status.screen.name, "label": status.screen.label, "site": site_names.get(status.screen.site_id, ""),
            "enrolment": str(status.screen.enrolment), "state": status.state,
            "since": _iso(since),
            # The page's words for the times (local zone); the ISO fields above stay UTC.
            "since_text": local_time(zone, since),
            "last_seen": _iso(presence.last_seen if presence else None),
            "long_offline": dark_since is not None and now - dark_since > alert_after,
            "thumbnail_url": (f"/api/v1/screens/{sid}/screenshot?thumbnail=true&v={shot.thumb_sha256 or shot.sha256}"
                              if shot else None),
            "screenshot_at": _iso(shot.taken_at if shot else None),
            "screenshot_text": local_time(zone, shot.taken_at if shot else None, "%d/%m %H:%M:%S"),
            "screenshot_stale": shot is not None and now - _aware(shot.taken_at) > stale_after,
            "slide_id": slide_id,
            "slide_name": slide_names.get(slide_id) if slide_id is not None else None,
            "language": beat.current_language if beat else None,
            "frame_hash": beat.frame_hash if beat else None,
            "live_version": live, "latest_version": newest,
            "acknowledged": newest is not None and live is not None and live >= newest,
            "clock_offset_s": beat.clock_offset_s if beat else None,
            "disk_free_bytes": beat.disk_free_bytes if beat else None,
            "last_error": beat.last_error if beat else None,
            "brightness_percent": beat.brightness_percent if beat else None,
            "brightness_source": beat.brightness_source if beat else None,
            "brightness_label": BRIGHTNESS_SOURCES.get(beat.brightness_source or "") if beat else None,
        })
    return rows


def js_labels(request: Request) -> str:
    """The words the polling script writes into cells, in the page's language."""
    _ = gettext_for(request)
    return json.dumps({"online": _("online"), "offline": _("offline"), "unknown": _("unknown"),
                       "since": _("since"), "up_to_date": _("up to date"), "waiting": _("waiting for the screen"),
                       "no_shot": _("no screenshot yet"), "shot_alt": _("What the screen shows"),
                       "updated": _("Updated"), "failed": _("Could not refresh; retrying."),
                       "taken": _("taken at"), "stale": _("old picture"),
                       **{f"brightness_{code}": _(msgid) for code, msgid in BRIGHTNESS_SOURCES.items()}})


def by_site(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    sites: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        sites.setdefault(row["site"], []).append(row)
    return sorted(sites.items())


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, now: NowDep, viewer: AnyViewer) -> Response:
    rows = screen_rows(session, settings=app_settings(request), now=now)
    return render(request, "dashboard.html", viewer, sites=by_site(rows), now=now, labels_json=js_labels(request), poll_seconds=POLL_SECONDS,
                  alert_minutes=app_settings(request).dashboard_offline_alert_minutes)


@router.get("/dashboard.json")
def dashboard_json(request: Request, session: SessionDep, now: NowDep, viewer: AnyViewer,
                   screen: Annotated[list[int] | None, Query()] = None) -> JSONResponse:
    """What the page script polls; `screen` narrows it (the approval follow-up watches its targets only)."""
    rows = screen_rows(session, settings=app_settings(request), now=now,
                       only=set(screen) if screen else None)
    return JSONResponse({"generated_at": now.isoformat(), "screens": rows}, headers={"Cache-Control": "no-store"})


@router.get("/approve/{slide_id}/rollout", response_class=HTMLResponse)
def rollout(slide_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Approvers) -> Response:
    """After approval: each target screen's acknowledgement arriving (heartbeat version reaching the latest)."""
    slide = session.get(Slide, slide_id)
    if slide is None:
        raise PageError(404, gettext_for(request)("No such slide."))
    targets = {saved_id(s) for s in screens_showing(session, slide_id=slide_id)}
    rows = screen_rows(session, settings=app_settings(request), now=now, only=targets) if targets else []
    return render(request, "rollout.html", viewer, slide=slide, rows=rows, poll_seconds=POLL_SECONDS,
                  labels_json=js_labels(request))
