"""Sites, screens and screen groups: who may change them and what a valid screen is."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, or_, select

from signage_core.languages import Language
from signage_core.manifest import LayoutKind, LayoutSpec
from signage_core.render.spec import ScreenSpec
from signage_core.schedule import TimeWindow
from signage_core.screen import screen_spec, zoned_specs
from signage_server.alerts import service as alerts
from signage_server.audit import service as audit
from signage_server.errors import Conflict, Invalid, NotFound
from signage_server.languages import parse_languages
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.playlists.models import Playlist
from signage_server.schedules.models import Schedule, ScheduleGroupLink, ScheduleScreenLink
from signage_server.screens.brightness import check_coordinates
from signage_server.screens.models import (
    Enrolment,
    Layout,
    Orientation,
    Screen,
    ScreenGroup,
    ScreenGroupLink,
    Site,
)
from signage_server.screens.zones import check_zones
from signage_server.users.models import Role, User

# Sensible bounds for real LED cabinets; outside them the number is a typo.
MAX_PIXELS_PER_SIDE = 8192
MIN_FOREIGN_RATIO = 0.3
# A language shown for less than a second cannot be read; a minute per language stalls a rotation.
MIN_ROTATION_DWELL_S = 1.0
MAX_ROTATION_DWELL_S = 60.0
MAX_VIEWING_DISTANCE_M = 500
MAX_FOREIGN_RATIO = 1.0
_SCREEN_FIELDS = (
    "site_id", "name", "display_name", "width_px", "height_px", "pixel_pitch_mm", "orientation", "layout",
    "languages", "foreign_ratio", "on_time", "off_time", "default_playlist_id",
    "commissioned_at", "viewing_distance_m", "rotation_dwell_s", "zones",
)


def _check_name(value: str, field: str = "name", max_len: int = 100) -> str:
    name = value.strip()
    if not name or len(name) > max_len:
        raise Invalid("%(field)s must be 1-%(max)s characters", field=field, params={"field": field, "max": max_len})
    return name


def _display_name(value: object) -> str:
    """Optional, up to 200 characters; blank means the pages show the identifier."""
    text = " ".join(str(value or "").split())
    if len(text) > 200:
        raise Invalid("display name must be at most 200 characters", field="display_name")
    return text


def check_languages(codes: list[str]) -> list[str]:
    """Known codes, no repeats, Vietnamese moved first as the law orders."""
    if not codes:
        raise Invalid("a screen shows at least one language", field="languages")
    langs = parse_languages(codes, field="languages")
    if len(set(langs)) != len(langs):
        raise Invalid("languages repeat", field="languages")
    if Language.VI not in langs:
        raise Invalid("Vietnamese must be shown on every screen (Advertising Law Art. 18)", field="languages")
    # Vietnamese first by law; the foreign languages keep the order chosen (e.g. Khmer first facing Cambodia).
    return [Language.VI.value] + [lang.value for lang in langs if lang != Language.VI]


def layout_of(screen: Screen) -> LayoutSpec:
    """The screen row as the player's LayoutSpec: languages in the configured order, on/off hours as a local window."""
    return _layout(screen.width_px, screen.height_px, screen.layout.value, tuple(screen.languages),
                   screen.foreign_ratio, screen.on_time, screen.off_time, screen.rotation_dwell_s)


@functools.lru_cache(maxsize=1024)
def _layout(width: int, height: int, layout: str, languages: tuple[str, ...], foreign_ratio: float,
            on_time: time | None, off_time: time | None, rotation_dwell_s: float | None) -> LayoutSpec:
    """Memoised (LayoutSpec is frozen): a recompile asks it for each of a province's screens, of a few models."""
    on_hours = None
    if on_time is not None and off_time is not None and on_time != off_time:
        on_hours = TimeWindow(start=on_time, end=off_time)
    dwell = {"rotation_ms": round(rotation_dwell_s * 1000)} if rotation_dwell_s else {}
    return LayoutSpec(width=width, height=height, layout=LayoutKind(layout),
                      languages=tuple(Language(code) for code in languages),
                      foreign_size_ratio=foreign_ratio, on_hours=on_hours, **dwell)


def spec_of(screen: Screen) -> ScreenSpec:
    """The renderer's view of a screen row (caption checks, previews): the same spec its player draws with.

    On a zoned screen that is the main zone's: captions are checked and previewed where the slides play.
    """
    from signage_server.screens.zones import stored

    zones = stored(screen.zones)
    if zones is not None:
        return zoned_specs(layout_of(screen), zones.spec(ticker_playlist=None)).main
    return screen_spec(layout_of(screen))


# --- sites ---------------------------------------------------------------------------------

def get_site(session: Session, *, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound("site", site_id)
    return site


def find_site(session: Session, *, slug: str) -> Site | None:
    return session.exec(select(Site).where(Site.slug == slug)).first()


def list_sites(session: Session, *, limit: int, offset: int) -> tuple[list[Site], int]:
    return paginate(session, select(Site).order_by(col(Site.slug)), limit=limit, offset=offset)


def _check_slug(slug: str) -> str:
    value = slug.strip()
    if not value or len(value) > 64 or not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in value):
        raise Invalid("slug must be 1-64 ASCII letters, digits or '-'", field="slug")
    return value.lower()


def _check_distance(distance: float | None) -> float | None:
    if distance is not None and not 0 < float(distance) <= MAX_VIEWING_DISTANCE_M:
        raise Invalid("viewing_distance_m must be more than 0 and at most %(max)s metres",
                      field="viewing_distance_m", params={"max": MAX_VIEWING_DISTANCE_M})
    return float(distance) if distance is not None else None


@dataclass(frozen=True)
class Distance:
    """The viewing distance a screen's readability is judged at, and whose it is."""

    metres: float
    source: str  # "screen", "site" or "setting"


def viewing_distance(session: Session, screen: Screen, *, default_m: float) -> Distance:
    """The screen's own distance, else its site's, else the deployment's setting: the one rule."""
    if screen.viewing_distance_m:
        return Distance(screen.viewing_distance_m, "screen")
    site = session.get(Site, screen.site_id)
    if site is not None and site.viewing_distance_m:
        return Distance(site.viewing_distance_m, "site")
    return Distance(default_m, "setting")


def create_site(
    session: Session, *, actor: User | None, slug: str, name: str, district: str = "", now: datetime,
    latitude: float | None = None, longitude: float | None = None,
) -> Site:
    if actor is not None:
        require_role(actor, Role.ADMIN)
    clean_slug = _check_slug(slug)
    if find_site(session, slug=clean_slug) is not None:
        raise Conflict("site %(name)s exists", details={"field": "slug"}, params={"name": repr(clean_slug)})
    latitude, longitude = check_coordinates(latitude, longitude)
    site = Site(slug=clean_slug, name=_check_name(name, max_len=200), district=district.strip(), created_at=now,
                latitude=latitude, longitude=longitude)
    session.add(site)
    session.flush()
    audit.record(session, actor=actor, action="site.create", entity="site", entity_id=site.id,
                 before=None, after=audit.snapshot(site), now=now)
    return site


_UNCHANGED: Any = object()


def update_site(
    session: Session, *, actor: User | None, site_id: int, name: str | None = None,
    district: str | None = None, viewing_distance_m: float | None = _UNCHANGED, now: datetime,
    coordinates: tuple[float | None, float | None] | None = None,
) -> Site:
    """Rename, re-district, set the viewing distance (None: back to the deployment's default) or the
    coordinates: (latitude, longitude) replaces both, (None, None) clears them, None leaves them."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
    site = get_site(session, site_id=site_id)
    before = audit.snapshot(site)
    if name is not None:
        site.name = _check_name(name, max_len=200)
    if district is not None:
        site.district = district.strip()
    if coordinates is not None:
        site.latitude, site.longitude = check_coordinates(*coordinates)
    if viewing_distance_m is not _UNCHANGED:
        site.viewing_distance_m = _check_distance(viewing_distance_m)
    if audit.snapshot(site) == before:
        return site
    session.add(site)
    session.flush()
    audit.record(session, actor=actor, action="site.update", entity="site", entity_id=site.id,
                 before=before, after=audit.snapshot(site), now=now)
    return site


def delete_site(session: Session, *, actor: User, site_id: int, now: datetime) -> None:
    require_role(actor, Role.ADMIN)
    site = get_site(session, site_id=site_id)
    if session.exec(select(Screen.id).where(Screen.site_id == site_id)).first() is not None:
        raise Conflict("site still has screens; delete or move them first", details={"entity": "site"})
    before = audit.snapshot(site)
    session.delete(site)
    session.flush()
    audit.record(session, actor=actor, action="site.delete", entity="site", entity_id=site_id,
                 before=before, after=None, now=now)


# --- groups --------------------------------------------------------------------------------

def get_group(session: Session, *, group_id: int) -> ScreenGroup:
    group = session.get(ScreenGroup, group_id)
    if group is None:
        raise NotFound("screen group", group_id)
    return group


def find_group(session: Session, *, name: str) -> ScreenGroup | None:
    return session.exec(select(ScreenGroup).where(ScreenGroup.name == name)).first()


def list_groups(session: Session, *, limit: int, offset: int) -> tuple[list[ScreenGroup], int]:
    return paginate(session, select(ScreenGroup).order_by(col(ScreenGroup.name)), limit=limit, offset=offset)


def create_group(
    session: Session, *, actor: User | None, name: str, description: str = "", display_name: str = "",
    now: datetime,
) -> ScreenGroup:
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    clean = _check_name(name)
    if find_group(session, name=clean) is not None:
        raise Conflict("group %(name)s exists", details={"field": "name"}, params={"name": repr(clean)})
    group = ScreenGroup(name=clean, description=description.strip(), display_name=_display_name(display_name),
                        created_at=now)
    session.add(group)
    session.flush()
    audit.record(session, actor=actor, action="group.create", entity="screen_group", entity_id=group.id,
                 before=None, after=audit.snapshot(group), now=now)
    return group


def update_group(
    session: Session, *, actor: User | None, group_id: int, name: str | None = None,
    description: str | None = None, display_name: str | None = None, now: datetime,
) -> ScreenGroup:
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    group = get_group(session, group_id=group_id)
    before = audit.snapshot(group)
    if name is not None:
        clean = _check_name(name)
        other = find_group(session, name=clean)
        if other is not None and other.id != group.id:
            raise Conflict("group %(name)s exists", details={"field": "name"}, params={"name": repr(clean)})
        group.name = clean
    if description is not None:
        group.description = description.strip()
    if display_name is not None:
        group.display_name = _display_name(display_name)
    if audit.snapshot(group) == before:
        return group
    session.add(group)
    session.flush()
    audit.record(session, actor=actor, action="group.update", entity="screen_group", entity_id=group.id,
                 before=before, after=audit.snapshot(group), now=now)
    return group


def group_screen_counts(session: Session) -> dict[int, int]:
    """Members per group id (groups without members are absent)."""
    rows = session.exec(select(ScreenGroupLink.group_id, func.count()).group_by(col(ScreenGroupLink.group_id)))
    return {group_id: int(count) for group_id, count in rows.all()}


def delete_group(session: Session, *, actor: User, group_id: int, now: datetime) -> None:
    """Refused while a schedule or a live alert uses the group: members would silently lose content or a withdrawal."""
    require_role(actor, Role.ADMIN, Role.OPERATOR)
    group = get_group(session, group_id=group_id)
    if session.exec(select(ScheduleGroupLink).where(ScheduleGroupLink.group_id == group_id)).first():
        raise Conflict("a schedule targets this group; change the schedule first", details={"entity": "screen_group"})
    if alerts.active_on_group(session, group_id=group_id, now=now) is not None:
        raise Conflict("an urgent alert is in force on this group; withdraw it or let it expire first",
                       details={"entity": "screen_group"})
    before = audit.snapshot(group)
    session.delete(group)
    session.flush()
    audit.record(session, actor=actor, action="group.delete", entity="screen_group", entity_id=group_id,
                 before=before, after=None, now=now)


# --- screens -------------------------------------------------------------------------------

def get_screen(session: Session, *, screen_id: int) -> Screen:
    screen = session.get(Screen, screen_id)
    if screen is None:
        raise NotFound("screen", screen_id)
    return screen


def find_screen(session: Session, *, name: str) -> Screen | None:
    return session.exec(select(Screen).where(Screen.name == name)).first()


def list_screens(
    session: Session, *, site_id: int | None = None, limit: int, offset: int
) -> tuple[list[Screen], int]:
    query = select(Screen).order_by(col(Screen.name))
    if site_id is not None:
        query = query.where(Screen.site_id == site_id)
    return paginate(session, query, limit=limit, offset=offset)


def screen_snapshot(screen: Screen) -> dict[str, Any]:
    data = audit.snapshot(screen) or {}
    data["group_ids"] = sorted(g.id for g in screen.groups if g.id is not None)
    return data


def _apply_screen_fields(session: Session, screen: Screen, fields: dict[str, Any]) -> None:
    """Validate and set screen fields; each error names the field."""
    for key in fields:
        if key not in _SCREEN_FIELDS and key != "group_ids":
            raise Invalid("unknown screen field %(key)s", field=key, params={"key": repr(key)})
    if "site_id" in fields:
        screen.site_id = get_site(session, site_id=fields["site_id"]).id  # type: ignore[assignment]
    if "name" in fields:
        name = _check_name(fields["name"])
        other = find_screen(session, name=name)
        if other is not None and other.id != screen.id:
            raise Conflict("screen %(name)s exists", details={"field": "name"}, params={"name": repr(name)})
        screen.name = name
    if "display_name" in fields:
        screen.display_name = _display_name(fields["display_name"])
    for side in ("width_px", "height_px"):
        if side in fields:
            value = fields[side]
            if not isinstance(value, int) or not 1 <= value <= MAX_PIXELS_PER_SIDE:
                raise Invalid("%(field)s must be 1-%(max)s", field=side, params={"field": side, "max": MAX_PIXELS_PER_SIDE})
            setattr(screen, side, value)
    if "pixel_pitch_mm" in fields:
        pitch = float(fields["pixel_pitch_mm"])
        if not 0.5 <= pitch <= 40:
            raise Invalid("pixel_pitch_mm must be between 0.5 and 40", field="pixel_pitch_mm")
        screen.pixel_pitch_mm = pitch
    if "orientation" in fields:
        try:
            screen.orientation = Orientation(fields["orientation"])
        except ValueError:
            raise Invalid("orientation must be landscape or portrait", field="orientation") from None
    if "layout" in fields:
        try:
            screen.layout = Layout(fields["layout"])
        except ValueError:
            raise Invalid("layout must be stacked, rotate or ticker", field="layout") from None
    if "languages" in fields:
        screen.languages = check_languages(list(fields["languages"]))
    if "foreign_ratio" in fields:
        ratio = float(fields["foreign_ratio"])
        if not MIN_FOREIGN_RATIO <= ratio <= MAX_FOREIGN_RATIO:
            raise Invalid("foreign_ratio must be between %(min)s and %(max)s", field="foreign_ratio",
                          params={"min": MIN_FOREIGN_RATIO, "max": MAX_FOREIGN_RATIO})
        screen.foreign_ratio = ratio
    if "viewing_distance_m" in fields:  # None: the site's, else the setting's (viewing_distance)
        screen.viewing_distance_m = _check_distance(fields["viewing_distance_m"])
    if "rotation_dwell_s" in fields:  # None: signage_core's default minimum dwell
        dwell = fields["rotation_dwell_s"]
        if dwell is not None and not MIN_ROTATION_DWELL_S <= float(dwell) <= MAX_ROTATION_DWELL_S:
            raise Invalid("rotation_dwell_s must be between %(min)s and %(max)s seconds", field="rotation_dwell_s",
                          params={"min": MIN_ROTATION_DWELL_S, "max": MAX_ROTATION_DWELL_S})
        screen.rotation_dwell_s = float(dwell) if dwell is not None else None
    for key in ("on_time", "off_time"):
        if key in fields:
            value = fields[key]
            if value is not None and not isinstance(value, time):
                raise Invalid("%(field)s must be a time of day", field=key, params={"field": key})
            setattr(screen, key, value)
    if (screen.on_time is None) != (screen.off_time is None):
        raise Invalid("on_time and off_time go together", field="off_time")
    if "default_playlist_id" in fields:
        playlist_id = fields["default_playlist_id"]
        if playlist_id is not None and session.get(Playlist, playlist_id) is None:
            raise NotFound("playlist", playlist_id)
        screen.default_playlist_id = playlist_id
    if "display_name" in fields:
        label = str(fields["display_name"] or "").strip()
        if len(label) > 200:
            raise Invalid("display_name is at most 200 characters", field="display_name")
        screen.display_name = label
    if "commissioned_at" in fields:
        # The day the screen was handed over, when it differs from its first enrolment (docs/reports.md).
        value = fields["commissioned_at"]
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise Invalid("commissioned_at must be a date and time with its time zone", field="commissioned_at")
        if value is not None and screen.revoked_at is not None and value >= screen.revoked_at:
            raise Invalid("commissioned_at must be before the screen was revoked", field="commissioned_at")
        screen.commissioned_at = value
    if "zones" in fields or (screen.zones is not None and ("width_px" in fields or "height_px" in fields)):
        screen.zones = check_zones(session, fields.get("zones", screen.zones),
                                   width=screen.width_px, height=screen.height_px)
    if "group_ids" in fields:
        screen.groups = [get_group(session, group_id=gid) for gid in dict.fromkeys(fields["group_ids"])]


def create_screen(session: Session, *, actor: User | None, fields: dict[str, Any], now: datetime) -> Screen:
    """A new screen starts pending: it shows nothing until its player enrols."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
    for required in ("site_id", "name", "width_px", "height_px", "pixel_pitch_mm", "languages"):
        if required not in fields:
            raise Invalid("%(field)s is required", field=required, params={"field": required})
    screen = Screen(
        site_id=0, name="", width_px=0, height_px=0, pixel_pitch_mm=0.0,
        orientation=Orientation.LANDSCAPE, layout=Layout.STACKED, languages=[],
        enrolment=Enrolment.PENDING, created_at=now, updated_at=now,
    )
    _apply_screen_fields(session, screen, fields)
    session.add(screen)
    session.flush()
    audit.record(session, actor=actor, action="screen.create", entity="screen", entity_id=screen.id,
                 before=None, after=screen_snapshot(screen), now=now)
    return screen


def update_screen(
    session: Session, *, actor: User | None, screen_id: int, fields: dict[str, Any], now: datetime
) -> Screen:
    """Change a screen; an unchanged payload writes nothing, not even an audit event."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
    screen = get_screen(session, screen_id=screen_id)
    before = screen_snapshot(screen)
    _apply_screen_fields(session, screen, fields)
    after = screen_snapshot(screen)
    for left in sorted(set(before["group_ids"]) - set(after["group_ids"])):
        # Leaving the group leaves its alert topic: the withdrawal of a live alert would never arrive.
        if alerts.active_on_group(session, group_id=left, now=now) is not None:
            raise Conflict("an urgent alert is in force on this group; withdraw it or let it expire first",
                           details={"field": "group_ids", "group_id": left})
    if {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }:
        return screen
    screen.updated_at = now
    session.add(screen)
    session.flush()
    audit.record(session, actor=actor, action="screen.update", entity="screen", entity_id=screen.id,
                 before=before, after=screen_snapshot(screen), now=now)
    return screen


def delete_screen(session: Session, *, actor: User, screen_id: int, now: datetime) -> None:
    """Only a screen that never played may go; one with history is revoked instead, keeping reports whole."""
    require_role(actor, Role.ADMIN)
    screen = get_screen(session, screen_id=screen_id)
    if screen.enrolment != Enrolment.PENDING or screen.manifest_version > 0:
        raise Conflict(
            "screen has history (it was enrolled or received content); revoke it instead of deleting",
            details={"entity": "screen", "enrolment": str(screen.enrolment),
                     "manifest_version": screen.manifest_version},
        )
    if session.exec(select(ScheduleScreenLink).where(ScheduleScreenLink.screen_id == screen_id)).first():
        raise Conflict("a schedule targets this screen; change the schedule first", details={"entity": "screen"})
    before = screen_snapshot(screen)
    screen.groups = []
    session.delete(screen)
    session.flush()
    audit.record(session, actor=actor, action="screen.delete", entity="screen", entity_id=screen_id,
                 before=before, after=None, now=now)


def set_enrolment(
    session: Session, *, actor: User | None, screen_id: int, state: Enrolment, now: datetime
) -> Screen:
    """Enrolment changes come from the enrolment flow (a later issue) or an admin revoking."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
    screen = get_screen(session, screen_id=screen_id)
    if screen.enrolment == state:
        return screen
    if screen.enrolment == Enrolment.REVOKED:
        raise Conflict("a revoked screen stays revoked; create a new one", details={"field": "enrolment"})
    before = screen_snapshot(screen)
    screen.enrolment = state
    screen.updated_at = now
    # Availability counts from commissioning and stops at revocation (docs/reports.md).
    if state == Enrolment.ENROLLED and screen.commissioned_at is None:
        screen.commissioned_at = now
    if state == Enrolment.REVOKED:
        screen.revoked_at = now
    session.add(screen)
    session.flush()
    audit.record(session, actor=actor, action=f"screen.{state}", entity="screen", entity_id=screen.id,
                 before=before, after=screen_snapshot(screen), now=now)
    return screen


def _reaching_playlist(playlist_id: int) -> Any:
    """WHERE clause: screens that may show a playlist, as their default or through a schedule (direct or by group)."""
    # IN-subqueries, not joins: a screen reached through many schedules is one row, not one per schedule.
    schedule_ids = select(Schedule.id).where(Schedule.playlist_id == playlist_id)
    direct = select(ScheduleScreenLink.screen_id).where(col(ScheduleScreenLink.schedule_id).in_(schedule_ids))
    via_group = select(ScreenGroupLink.screen_id).where(col(ScreenGroupLink.group_id).in_(
        select(ScheduleGroupLink.group_id).where(col(ScheduleGroupLink.schedule_id).in_(schedule_ids))))
    return or_(Screen.default_playlist_id == playlist_id, col(Screen.id).in_(direct), col(Screen.id).in_(via_group))


def ticker_screens(session: Session, *, playlist_ids: Iterable[int]) -> dict[int, set[int]]:
    """Per playlist, the screens whose ticker zone scrolls it (screens.zones; a few zoned screens, read in Python)."""
    wanted = set(playlist_ids)
    out: dict[int, set[int]] = {pid: set() for pid in wanted}
    for screen_id, zones in session.exec(select(Screen.id, Screen.zones).where(col(Screen.zones).is_not(None))).all():
        ticker = (zones or {}).get("ticker_playlist_id")
        if ticker in wanted and screen_id is not None:
            out[ticker].add(screen_id)
    return out


def _showing_playlist(session: Session, playlist_id: int) -> Any:
    """WHERE clause: screens that may show a playlist, its ticker zone included."""
    tickers = ticker_screens(session, playlist_ids=[playlist_id])[playlist_id]
    reach = _reaching_playlist(playlist_id)
    return or_(reach, col(Screen.id).in_(sorted(tickers))) if tickers else reach


def screens_for_playlist(session: Session, *, playlist_id: int) -> list[Screen]:
    """Screens that may show a playlist: as their default, through a schedule (directly or by group), or in
    their ticker zone."""
    return sorted(session.exec(select(Screen).where(_showing_playlist(session, playlist_id))).all(),
                  key=lambda s: s.name)


def languages_showing_playlist(session: Session, *, playlist_id: int) -> list[list[str]]:
    """The languages of each screen, not revoked, that may show a playlist: a column read, as an approval asks
    this of a province's screens twice."""
    return [list(langs) for langs in session.exec(select(Screen.languages).where(
        _showing_playlist(session, playlist_id), Screen.enrolment != Enrolment.REVOKED))]


def screen_ids_for_playlist(session: Session, *, playlist_id: int) -> set[int]:
    """The ids of screens_for_playlist, without loading a province's screens as objects to learn them."""
    return {i for i in session.exec(select(Screen.id).where(_showing_playlist(session, playlist_id))) if i is not None}


def add_to_group(session: Session, *, actor: User | None, group_id: int, screen_id: int, now: datetime) -> Screen:
    """Membership is a screen field: the same update (role, audit, recompile) as editing the screen."""
    group = get_group(session, group_id=group_id)
    screen = get_screen(session, screen_id=screen_id)
    if screen.enrolment == Enrolment.REVOKED:
        raise Invalid("screen %(name)s is revoked", field="screen_id", params={"name": repr(screen.name)})
    current = [g.id for g in screen.groups]
    if group.id in current:
        raise Conflict("screen %(screen)s is already in group %(group)s", details={"field": "screen_id"},
                       params={"screen": repr(screen.name), "group": repr(group.name)})
    return update_screen(session, actor=actor, screen_id=screen_id, fields={"group_ids": [*current, group.id]},
                         now=now)


def remove_from_group(session: Session, *, actor: User | None, group_id: int, screen_id: int,
                      now: datetime) -> Screen:
    """Refused by update_screen during a live alert on the group."""
    group = get_group(session, group_id=group_id)
    screen = get_screen(session, screen_id=screen_id)
    current = [g.id for g in screen.groups]
    if group.id not in current:
        raise Invalid("screen %(screen)s is not in group %(group)s", field="screen_id",
                      params={"screen": repr(screen.name), "group": repr(group.name)})
    return update_screen(session, actor=actor, screen_id=screen_id,
                         fields={"group_ids": [gid for gid in current if gid != group.id]}, now=now)
