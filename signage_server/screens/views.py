"""The admin's screen pages: add, edit size/layout/languages/ratio/hours, revoke; sites alongside."""

from __future__ import annotations

import shlex
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import col, select

from signage_core.brightness import sun_times
from signage_core.languages import Language
from signage_core.zones import ZoneTemplate
from signage_server.db import saved_id
from signage_server.deps import (
    NowDep,
    OptionalTransportDep,
    SessionDep,
    app_settings,
    key_ring,
    secret_key,
)
from signage_server.enrolment import service as enrolment
from signage_server.errors import Invalid, SignageError
from signage_server.screens import brightness, service, zones
from signage_server.screens.models import Enrolment, Layout, Screen, ScreenGroup, Site
from signage_server.transport import hooks
from signage_server.transport.hooks import screen_changed
from signage_server.transport.service import TransportService
from signage_server.users.models import Role
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    local_time,
    local_zone,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
Admins = Annotated[Viewer, PageUser(Role.ADMIN)]
# Operators aim schedules at groups, so they keep the list; membership is a screen edit, which is the admin's.
Planners = Annotated[Viewer, PageUser(Role.OPERATOR)]


def _choices(session: SessionDep) -> dict[str, Any]:
    sites, _total = service.list_sites(session, limit=1000, offset=0)
    return {"sites": sites, "layouts": [layout.value for layout in Layout],
            "all_languages": [lang.value for lang in Language],
            "new_screen_languages": [lang.value for lang in Language if lang.info.on_new_screens]}


def _time(value: str, field: str) -> time | None:
    if not value.strip():
        return None
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("%(field)s must be a time of day like 06:00", field=field, params={"field": field}) from None


def _number(value: str, field: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(value)
    except ValueError:
        raise Invalid("%(field)s must be a number", field=field, params={"field": field}) from None


def _fields(name: str, site_id: str, width_px: str, height_px: str, pixel_pitch_mm: str, layout: str,
            languages: list[str] | None, foreign_ratio: str, on_time: str, off_time: str,
            display_name: str = "", viewing_distance_m: str = "", rotation_dwell_s: str = "") -> dict[str, Any]:
    return {
        # Empty: the default minimum time each language stays up on a rotate screen.
        "rotation_dwell_s": _number(rotation_dwell_s, "rotation_dwell_s", float) if rotation_dwell_s.strip() else None,
        # Empty: the deployment's default distance for the readability check.
        "viewing_distance_m": _number(viewing_distance_m, "viewing_distance_m", float) if viewing_distance_m.strip()
        else None,
        "name": name, "display_name": display_name, "site_id": _number(site_id, "site_id", int),
        "width_px": _number(width_px, "width_px", int), "height_px": _number(height_px, "height_px", int),
        "pixel_pitch_mm": _number(pixel_pitch_mm, "pixel_pitch_mm", float), "layout": layout,
        "languages": languages or [], "foreign_ratio": _number(foreign_ratio or "0.75", "foreign_ratio", float),
        "on_time": _time(on_time, "on_time"), "off_time": _time(off_time, "off_time"),
    }




@router.get("/screens", response_class=HTMLResponse)
def screens_page(request: Request, session: SessionDep, viewer: Admins) -> Response:
    screens, _total = service.list_screens(session, limit=1000, offset=0)
    choices = _choices(session)
    return render(request, "screens.html", viewer, screens=screens,
                  site_names={s.id: s.name for s in choices["sites"]},
                  default_distance=app_settings(request).readability.viewing_distance_m, **choices)


@router.post("/screens")
def create_screen(request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                  name: Annotated[str, Form(max_length=100)], site_id: Annotated[str, Form()],
                  width_px: Annotated[str, Form()], height_px: Annotated[str, Form()],
                  pixel_pitch_mm: Annotated[str, Form()], layout: Annotated[str, Form()],
                  languages: Annotated[list[str] | None, Form()] = None,
                  foreign_ratio: Annotated[str, Form()] = "0.75", on_time: Annotated[str, Form()] = "",
                  off_time: Annotated[str, Form()] = "",
                  display_name: Annotated[str, Form(max_length=200)] = "",
                  viewing_distance_m: Annotated[str, Form(max_length=20)] = "",
                  rotation_dwell_s: Annotated[str, Form(max_length=20)] = "") -> Response:
    try:
        with session.begin_nested():
            screen = service.create_screen(session, actor=viewer.user, now=now, fields=_fields(
                name, site_id, width_px, height_px, pixel_pitch_mm, layout, languages, foreign_ratio,
                on_time, off_time, display_name, viewing_distance_m, rotation_dwell_s))
    except SignageError as exc:
        return redirect(request, "/screens", error_text(request, exc), "error",
                        keep={"name": name, "display_name": display_name, "site_id": site_id, "width_px": width_px,
                                  "height_px": height_px, "pixel_pitch_mm": pixel_pitch_mm, "layout": layout,
                                  "languages": languages or [], "foreign_ratio": foreign_ratio, "on_time": on_time,
                                  "off_time": off_time, "viewing_distance_m": viewing_distance_m,
                                  "rotation_dwell_s": rotation_dwell_s})
    return redirect(request, f"/screens/{screen.id}", gettext_for(request)("Screen added."))


def _screen(request: Request, session: SessionDep, screen_id: int) -> Screen:
    try:
        return service.get_screen(session, screen_id=screen_id)
    except SignageError:
        raise PageError(404, gettext_for(request)("No such screen.")) from None


def _report_zone(request: Request) -> ZoneInfo:
    return ZoneInfo(app_settings(request).timezone)


def _commissioned_on(request: Request, screen: Screen) -> str:
    """The local day the screen entered service, for the date field."""
    if screen.commissioned_at is None:
        return ""
    return screen.commissioned_at.astimezone(_report_zone(request)).date().isoformat()


def _commissioning(request: Request, screen: Screen, value: str) -> dict[str, Any]:
    """A changed "in service since" day becomes the start of that local day; unchanged or empty: no change."""
    if not value.strip() or value.strip() == _commissioned_on(request, screen):
        return {}
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("commissioned_on must be a date like 2026-05-20", field="commissioned_on") from None
    return {"commissioned_at": datetime.combine(day, time.min, tzinfo=_report_zone(request))}


def _fingerprint(request: Request) -> str:
    """What the player prints after enrolling: the admin compares the two before trusting the screen."""
    return str(key_ring(request).current().public_key.fingerprint)


@router.get("/screens/{screen_id}", response_class=HTMLResponse)
def screen_page(screen_id: int, request: Request, session: SessionDep, viewer: Admins, now: NowDep) -> Response:
    screen = _screen(request, session, screen_id)
    return render(request, "screen.html", viewer, screen=screen, fingerprint=_fingerprint(request), issued=None,
                  commissioned_on=_commissioned_on(request, screen), distance=_distance(request, session, screen),
                  **_choices(session),
                  brightness=plan_view(screen, session, now, local_zone(request)),
                  brightness_action=f"/screens/{screen_id}/brightness", **_zones_view(session, screen))


@router.post("/screens/{screen_id}/enrolment-code", response_class=HTMLResponse)
def issue_enrolment_code(screen_id: int, request: Request, session: SessionDep, now: NowDep,
                         viewer: Admins) -> Response:
    """The plain code exists only in this response (the DB keeps a keyed hash): shown once, never cached."""
    screen = _screen(request, session, screen_id)
    settings = app_settings(request)
    try:
        with session.begin_nested():
            code, row = enrolment.issue_code(session, actor=viewer.user, screen_id=screen_id,
                                             secret=secret_key(request),
                                             ttl=timedelta(hours=settings.enrolment_code_hours), now=now)
    except SignageError as exc:
        return redirect(request, f"/screens/{screen_id}", error_text(request, exc), "error")
    server = str(request.base_url).rstrip("/")
    command = f"signage-player enroll --server {shlex.quote(server)} --code {shlex.quote(code)}"
    response = render(request, "screen.html", viewer, screen=screen, fingerprint=_fingerprint(request),
                      issued={"code": code, "expires_at": row.expires_at, "command": command},
                      commissioned_on=_commissioned_on(request, screen),
                      distance=_distance(request, session, screen), **_choices(session),
                      brightness=plan_view(screen, session, now, local_zone(request)),
                      brightness_action=f"/screens/{screen_id}/brightness", **_zones_view(session, screen))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/screens/{screen_id}")
def update_screen(screen_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                  name: Annotated[str, Form(max_length=100)], site_id: Annotated[str, Form()],
                  width_px: Annotated[str, Form()], height_px: Annotated[str, Form()],
                  pixel_pitch_mm: Annotated[str, Form()], layout: Annotated[str, Form()],
                  languages: Annotated[list[str] | None, Form()] = None,
                  foreign_ratio: Annotated[str, Form()] = "0.75", on_time: Annotated[str, Form()] = "",
                  off_time: Annotated[str, Form()] = "", display_name: Annotated[str, Form(max_length=200)] = "",
                  commissioned_on: Annotated[str, Form()] = "",
                  viewing_distance_m: Annotated[str, Form(max_length=20)] = "",
                  rotation_dwell_s: Annotated[str, Form(max_length=20)] = "") -> Response:
    screen = _screen(request, session, screen_id)
    try:
        with session.begin_nested():
            fields = _fields(name, site_id, width_px, height_px, pixel_pitch_mm, layout, languages, foreign_ratio,
                             on_time, off_time, display_name, viewing_distance_m, rotation_dwell_s)
            fields |= _commissioning(request, screen, commissioned_on)
            service.update_screen(session, actor=viewer.user, screen_id=screen_id, now=now, fields=fields)
    except SignageError as exc:
        return redirect(request, f"/screens/{screen_id}", error_text(request, exc), "error",
                        keep={"name": name, "display_name": display_name, "site_id": site_id, "width_px": width_px,
                                  "height_px": height_px, "pixel_pitch_mm": pixel_pitch_mm, "layout": layout,
                                  "languages": languages or [], "foreign_ratio": foreign_ratio, "on_time": on_time,
                                  "off_time": off_time, "commissioned_on": commissioned_on,
                                  "viewing_distance_m": viewing_distance_m, "rotation_dwell_s": rotation_dwell_s})
    return redirect(request, f"/screens/{screen_id}", gettext_for(request)("Saved."))


def _zones_view(session: SessionDep, screen: Screen) -> dict[str, Any]:
    """What the zones form offers: the templates (a picture of each at the screen's size), playlists, feeds."""
    from signage_server.feeds.models import DataFeed
    from signage_server.playlists.models import Playlist

    current = zones.stored(screen.zones)
    return {"zone_templates": [t.value for t in ZoneTemplate],
            "zone_current": current,
            "zone_widgets": {w.kind.value: w for w in current.widgets} if current else {},
            "zone_playlists": session.exec(select(Playlist).order_by(col(Playlist.name))).all(),
            "zone_feeds": session.exec(select(DataFeed).order_by(col(DataFeed.name))).all()}


@router.get("/screens/{screen_id}/zones/{template}.png")
def zone_picture(screen_id: int, template: str, request: Request, session: SessionDep, viewer: Admins,
                 now: NowDep) -> Response:
    """The template at the screen's native size, drawn by the player's compositor (labels, the strip's texts now)."""
    screen = _screen(request, session, screen_id)
    try:
        chosen = ZoneTemplate(template)
        current = zones.stored(screen.zones)
        widgets = current.widgets if current is not None and current.template is chosen else None
        data = zones.preview_png(screen, chosen, now=now, widgets=widgets,
                                 ticker=zones.ticker_message(session, screen))
    except ValueError:
        raise PageError(404, gettext_for(request)("No such screen.")) from None
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/screens/{screen_id}/zones")
def update_zones(screen_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                 template: Annotated[str, Form(max_length=32)] = "",
                 ticker_playlist_id: Annotated[str, Form(max_length=20)] = "",
                 widgets: Annotated[list[str] | None, Form()] = None,
                 temperature_feed: Annotated[str, Form(max_length=64)] = "",
                 rates_feed: Annotated[str, Form(max_length=64)] = "") -> Response:
    _screen(request, session, screen_id)
    value: dict[str, Any] | None = None
    if template:
        feeds = {"temperature": temperature_feed, "rates": rates_feed}
        value = {"template": template,
                 "ticker_playlist_id": _number(ticker_playlist_id, "ticker_playlist_id", int)
                 if ticker_playlist_id.strip() else None,
                 "widgets": [{"kind": kind, **({"feed": feeds[kind] or None} if kind in feeds else {})}
                             for kind in (widgets or [])]}
    try:
        with session.begin_nested():
            service.update_screen(session, actor=viewer.user, screen_id=screen_id, now=now, fields={"zones": value})
    except SignageError as exc:
        return redirect(request, f"/screens/{screen_id}", error_text(request, exc), "error")
    return redirect(request, f"/screens/{screen_id}", gettext_for(request)("Saved."))


@router.post("/screens/{screen_id}/revoke")
def revoke_screen(screen_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                  transport: OptionalTransportDep) -> Response:
    _screen(request, session, screen_id)
    try:
        with session.begin_nested():
            screen = service.set_enrolment(session, actor=viewer.user, screen_id=screen_id, state=Enrolment.REVOKED,
                                           now=now)
    except SignageError as exc:
        return redirect(request, f"/screens/{screen_id}", error_text(request, exc), "error")
    screen_changed(transport, session, screen, groups_before=None)  # the broker account goes at commit, as by API
    return redirect(request, f"/screens/{screen_id}", gettext_for(request)("Screen revoked."))


def _distance(request: Request, session: SessionDep, screen: Screen) -> str:
    """Which viewing distance the readability check uses for this screen, and whose it is, in words."""
    _ = gettext_for(request)
    found = service.viewing_distance(session, screen,
                                     default_m=app_settings(request).readability.viewing_distance_m)
    whose = {"screen": _("this screen's own"), "site": _("the site's (%(site)s)"),
             "setting": _("the deployment's default")}[found.source]
    site = session.get(Site, screen.site_id)
    return _("Readability is judged at %(metres)s m: %(whose)s.") % {
        "metres": f"{found.metres:g}", "whose": whose % {"site": site.name if site else ""}}


@router.post("/sites/{site_id}")
def update_site(site_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                viewing_distance_m: Annotated[str, Form(max_length=20)] = "",
                latitude: Annotated[str, Form(max_length=20)] = "",
                longitude: Annotated[str, Form(max_length=20)] = "") -> Response:
    """An admin sets where the gate is (sunrise and sunset of brightness plans follow it) and where its
    readers stand (its screens without their own distance are checked at it); empty clears."""
    def number(text: str, field: str) -> float | None:
        return _number(text.replace(",", "."), field, float) if text.strip() else None

    try:
        with session.begin_nested():
            service.update_site(session, actor=viewer.user, site_id=site_id, now=now,
                                viewing_distance_m=number(viewing_distance_m, "viewing_distance_m"),
                                coordinates=(number(latitude, "latitude"), number(longitude, "longitude")))
    except SignageError as exc:
        return redirect(request, "/screens#sites", error_text(request, exc), "error")
    return redirect(request, "/screens#sites", gettext_for(request)("Saved."))


@router.post("/sites")
def create_site(request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                slug: Annotated[str, Form(max_length=64)], name: Annotated[str, Form(max_length=200)]) -> Response:
    try:
        with session.begin_nested():
            service.create_site(session, actor=viewer.user, slug=slug, name=name, now=now)
    except SignageError as exc:
        return redirect(request, "/screens", error_text(request, exc), "error")
    return redirect(request, "/screens", gettext_for(request)("Site added."))


def _group(request: Request, session: SessionDep, group_id: int) -> ScreenGroup:
    try:
        return service.get_group(session, group_id=group_id)
    except SignageError:
        raise PageError(404, gettext_for(request)("No such screen group.")) from None


@router.get("/groups", response_class=HTMLResponse)
def groups_page(request: Request, session: SessionDep, viewer: Planners) -> Response:
    groups, _total = service.list_groups(session, limit=1000, offset=0)
    return render(request, "groups.html", viewer, groups=groups, counts=service.group_screen_counts(session))


@router.post("/groups")
def create_group(request: Request, session: SessionDep, now: NowDep, viewer: Planners,
                 name: Annotated[str, Form(max_length=100)],
                 description: Annotated[str, Form(max_length=500)] = "",
                 display_name: Annotated[str, Form(max_length=1000)] = "") -> Response:
    try:
        with session.begin_nested():
            group = service.create_group(session, actor=viewer.user, name=name, description=description,
                                         display_name=display_name, now=now)
    except SignageError as exc:
        return redirect(request, "/groups", error_text(request, exc), "error",
                        keep={"name": name, "display_name": display_name, "description": description})
    return redirect(request, f"/groups/{group.id}", gettext_for(request)("Group created."))


@router.get("/groups/{group_id}", response_class=HTMLResponse)
def group_page(group_id: int, request: Request, session: SessionDep, viewer: Planners, now: NowDep) -> Response:
    from signage_server.schedules import service as schedules

    group = _group(request, session, group_id)
    members = sorted(group.screens, key=lambda s: s.name)
    everyone, _total = service.list_screens(session, limit=1000, offset=0)
    member_ids = {s.id for s in members}
    addable = [s for s in everyone if s.id not in member_ids and s.enrolment != Enrolment.REVOKED]
    return render(request, "group.html", viewer, group=group, members=members, addable=addable,
                  schedules=schedules.schedules_for_group(session, group_id=group_id),
                  may_edit_members=viewer.user.role == Role.ADMIN,
                  brightness=plan_view(group, session, now, local_zone(request)),
                  brightness_action=f"/groups/{group_id}/brightness")


@router.post("/groups/{group_id}")
def update_group(group_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Planners,
                 name: Annotated[str, Form(max_length=100)],
                 description: Annotated[str, Form(max_length=500)] = "",
                 display_name: Annotated[str, Form(max_length=1000)] = "") -> Response:
    _group(request, session, group_id)
    try:
        with session.begin_nested():
            service.update_group(session, actor=viewer.user, group_id=group_id, name=name, description=description,
                                 display_name=display_name, now=now)
    except SignageError as exc:
        return redirect(request, f"/groups/{group_id}", error_text(request, exc), "error",
                        keep={"name": name, "display_name": display_name, "description": description})
    return redirect(request, f"/groups/{group_id}", gettext_for(request)("Saved."))


@router.post("/groups/{group_id}/delete")
def delete_group(group_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Planners,
                 transport: OptionalTransportDep, confirm: Annotated[str, Form()] = "") -> Response:
    """Members are asked for explicitly: deleting regroups their broker accounts, which reconnects them."""
    _ = gettext_for(request)
    if _group(request, session, group_id).screens and confirm != "yes":
        return redirect(request, f"/groups/{group_id}",
                        _("This group still holds screens: tick the box to confirm they leave it."), "error")
    try:
        with session.begin_nested():
            hooks.delete_group(transport, session, actor=viewer.user, group_id=group_id, now=now)
    except SignageError as exc:
        return redirect(request, f"/groups/{group_id}", error_text(request, exc), "error")
    return redirect(request, "/groups", _("Group deleted."))


def _membership(request: Request, session: SessionDep, viewer: Viewer, group_id: int, screen_id: str, *,
                add: bool, now: Any, transport: TransportService | None) -> Response:
    _ = gettext_for(request)
    _group(request, session, group_id)
    try:
        sid = int(screen_id)
    except ValueError:
        return redirect(request, f"/groups/{group_id}", _("Choose a screen."), "error")
    try:
        with session.begin_nested():
            before = [saved_id(g) for g in service.get_screen(session, screen_id=sid).groups]
            change = service.add_to_group if add else service.remove_from_group
            screen = change(session, actor=viewer.user, group_id=group_id, screen_id=sid, now=now)
    except SignageError as exc:
        return redirect(request, f"/groups/{group_id}", error_text(request, exc), "error")
    screen_changed(transport, session, screen, groups_before=before)
    return redirect(request, f"/groups/{group_id}", _("Screen added to the group.") if add
                    else _("Screen removed from the group."))


@router.post("/groups/{group_id}/screens")
def add_group_screen(group_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                     transport: OptionalTransportDep, screen_id: Annotated[str, Form(max_length=20)] = "") -> Response:
    return _membership(request, session, viewer, group_id, screen_id, add=True, now=now, transport=transport)


@router.post("/groups/{group_id}/screens/{screen_id}/remove")
def remove_group_screen(group_id: int, screen_id: int, request: Request, session: SessionDep, now: NowDep,
                        viewer: Admins, transport: OptionalTransportDep) -> Response:
    return _membership(request, session, viewer, group_id, str(screen_id), add=False, now=now, transport=transport)


# --- brightness plans (screens: admins; groups: operators too) --------------------------------

_SUN_KINDS = ("sunrise", "sunset")
OVERRIDE_CHOICES = (30, 60, 120, 240, 480, 1440)  # minutes the override form offers


def _plan_time(kind: str, offset: str, at: str, field: str) -> dict[str, Any]:
    if kind in _SUN_KINDS:
        return {"sun": kind, "offset_minutes": _number(offset or "0", f"{field}.offset_minutes", int)}
    return {"at": at.strip() or None}


def _plan_from_form(form: dict[str, str]) -> brightness.StoredPlan:
    """The plan form as a StoredPlan; a refusal names each wrong field in the page's language."""
    raw: dict[str, Any] = {
        "day_from": _plan_time(form["day_kind"], form["day_offset"], form["day_at"], "day_from"),
        "night_from": _plan_time(form["night_kind"], form["night_offset"], form["night_at"], "night_from"),
    }
    for name in ("day_percent", "night_percent", "ramp_minutes", "alert_percent"):
        raw[name] = _number(form[name], name, int)
    try:
        return brightness.StoredPlan.model_validate(raw)
    except ValidationError as exc:
        errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"],
                   "ctx": {k: str(v) for k, v in (e.get("ctx") or {}).items()}} for e in exc.errors()]
        raise Invalid("the brightness plan is not valid", details={"errors": errors}) from None


def plan_view(row: Screen | ScreenGroup, session: SessionDep, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """What the plan section of a screen or group page shows: the form's values and today's curve."""
    plan = brightness.stored(row.brightness)
    site = None
    if isinstance(row, Screen):
        site = session.get(Site, row.site_id)
    else:  # a group's curve is drawn at its first member's site
        site = next((session.get(Site, s.site_id) for s in sorted(row.screens, key=saved_id)), None)
    day = now.astimezone(zone).date()
    chart = brightness.chart_points(plan, site, day) if plan is not None else None
    override = plan.override if plan is not None and plan.override is not None and plan.override.until > now else None
    place = brightness.coordinates_of(site) if site is not None else None
    sun = sun_times(place.latitude, place.longitude, day) if place is not None else None
    return {"plan": plan, "chart": chart, "chart_site": site, "override": override,
            "sunrise": local_time(zone, sun[0], "%H:%M") if sun else "",
            "sunset": local_time(zone, sun[1], "%H:%M") if sun else "",
            "override_until": local_time(zone, override.until) if override else "",
            "override_choices": OVERRIDE_CHOICES, "sun_kinds": _SUN_KINDS,
            "needs_place": plan is not None and plan.uses_sun and chart is None}


_PLAN_FORM = ("day_percent", "night_percent", "ramp_minutes", "alert_percent", "day_kind", "day_offset", "day_at",
              "night_kind", "night_offset", "night_at")


async def _save_plan(request: Request, session: SessionDep, now: datetime, viewer: Viewer,
                     row: Screen | ScreenGroup, back: str) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items() if k in (*_PLAN_FORM, "action")}
    _ = gettext_for(request)
    try:
        with session.begin_nested():
            plan = None if form.get("action") == "remove" else _plan_from_form(
                {k: form.get(k, "") for k in _PLAN_FORM})
            brightness.set_plan(session, actor=viewer.user, row=row, plan=plan, now=now)
    except SignageError as exc:
        return redirect(request, back + "#brightness", error_text(request, exc), "error",
                        keep={k: form.get(k, "") for k in _PLAN_FORM})
    return redirect(request, back + "#brightness", _("Brightness plan removed.") if plan is None else _("Saved."))


def _save_override(request: Request, session: SessionDep, now: datetime, viewer: Viewer,
                   row: Screen | ScreenGroup, back: str, percent: str, minutes: str, action: str) -> Response:
    _ = gettext_for(request)
    try:
        with session.begin_nested():
            override = None if action == "end" else brightness.OverrideIn(
                percent=_number(percent, "percent", int), minutes=_number(minutes, "minutes", int))
            brightness.set_override(session, actor=viewer.user, row=row, override=override, now=now)
    except ValidationError as exc:
        return redirect(request, back + "#brightness", error_text(request, Invalid(
            "the override is not valid", details={"errors": [{"type": e["type"], "loc": list(e["loc"]),
                                                             "msg": e["msg"]} for e in exc.errors()]})), "error")
    except SignageError as exc:
        return redirect(request, back + "#brightness", error_text(request, exc), "error")
    return redirect(request, back + "#brightness", _("Override ended.") if override is None else _("Saved."))


@router.post("/screens/{screen_id}/brightness")
async def screen_brightness(screen_id: int, request: Request, session: SessionDep, now: NowDep,
                            viewer: Admins) -> Response:
    return await _save_plan(request, session, now, viewer, _screen(request, session, screen_id),
                            f"/screens/{screen_id}")


@router.post("/groups/{group_id}/brightness")
async def group_brightness(group_id: int, request: Request, session: SessionDep, now: NowDep,
                           viewer: Planners) -> Response:
    return await _save_plan(request, session, now, viewer, _group(request, session, group_id), f"/groups/{group_id}")


@router.post("/screens/{screen_id}/brightness/override")
def screen_override(screen_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                    percent: Annotated[str, Form(max_length=10)] = "100",
                    minutes: Annotated[str, Form(max_length=10)] = "120",
                    action: Annotated[str, Form(max_length=10)] = "set") -> Response:
    return _save_override(request, session, now, viewer, _screen(request, session, screen_id),
                          f"/screens/{screen_id}", percent, minutes, action)


@router.post("/groups/{group_id}/brightness/override")
def group_override(group_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Planners,
                   percent: Annotated[str, Form(max_length=10)] = "100",
                   minutes: Annotated[str, Form(max_length=10)] = "120",
                   action: Annotated[str, Form(max_length=10)] = "set") -> Response:
    return _save_override(request, session, now, viewer, _group(request, session, group_id),
                          f"/groups/{group_id}", percent, minutes, action)
