"""Brightness plans of screens and groups: stored, checked, resolved per screen for the compiler, charted.

A screen's own plan beats its groups' (the lowest group id with a plan). The stored plan has no
coordinates: the compiler adds the screen's site's, so one group plan follows the sun at each gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import Field, ValidationError
from sqlmodel import Session, col, select

from signage_core.brightness import (
    BrightnessOverride,
    BrightnessPlan,
    Coordinates,
    PlanLevels,
    day_curve,
)
from signage_server.audit import service as audit
from signage_server.db import saved_id
from signage_server.errors import Invalid
from signage_server.permissions import require_role
from signage_server.schemas import InputModel
from signage_server.screens.models import Screen, ScreenGroup, ScreenGroupLink, Site
from signage_server.users.models import Role, User

# Heartbeat `brightness_source` -> what the dashboard says (catalog msgids).
BRIGHTNESS_SOURCES = {"plan": "by plan", "override": "manual override", "alert": "urgent alert",
                      "sensor": "light sensor"}
# An override is for an event or a fault, not a new plan: at most a day, then the plan again.
MAX_OVERRIDE_MINUTES = 24 * 60


class StoredPlan(PlanLevels):
    """A plan as the API takes it and the database keeps it (no coordinates: those are the site's)."""

    def plan(self, coordinates: Coordinates | None, *, now: datetime | None = None) -> BrightnessPlan:
        """The signage_core plan for a place; an override already over at `now` is left out."""
        override = self.override
        if override is not None and now is not None and override.until <= now:
            override = None
        fields = self.model_dump(exclude={"override"})
        return BrightnessPlan(**fields, coordinates=coordinates if self.uses_sun else None, override=override)


class OverrideIn(InputModel):
    """A level for the next `minutes` (e.g. 100 % for 120 minutes during an event)."""

    percent: int = Field(ge=0, le=100)
    minutes: int = Field(ge=1, le=MAX_OVERRIDE_MINUTES)


def coordinates_of(site: Site) -> Coordinates | None:
    if site.latitude is None or site.longitude is None:
        return None
    return Coordinates(latitude=site.latitude, longitude=site.longitude)


def check_coordinates(latitude: float | None, longitude: float | None) -> tuple[float | None, float | None]:
    """Both or neither, within the globe; refusals name the field."""
    if (latitude is None) != (longitude is None):
        raise Invalid("latitude and longitude go together: give both or neither",
                      details={"field": "latitude" if latitude is None else "longitude"})
    if latitude is not None and not -90 <= latitude <= 90:
        raise Invalid("latitude must be between -90 and 90 degrees, got %(value)s",
                      details={"field": "latitude"}, params={"value": latitude})
    if longitude is not None and not -180 <= longitude <= 180:
        raise Invalid("longitude must be between -180 and 180 degrees, got %(value)s",
                      details={"field": "longitude"}, params={"value": longitude})
    return latitude, longitude


def stored(raw: dict[str, Any] | None) -> StoredPlan | None:
    """The stored JSON as a plan; a row written by hand that no longer validates counts as none."""
    if raw is None:
        return None
    try:
        return StoredPlan.model_validate(raw)
    except ValidationError:
        return None


def _sites_without_place(session: Session, screens: Iterable[Screen]) -> list[str]:
    site_ids = {s.site_id for s in screens}
    if not site_ids:
        return []
    rows = session.exec(select(Site).where(col(Site.id).in_(site_ids))).all()
    return sorted(site.name for site in rows if coordinates_of(site) is None)


def _check_place(session: Session, plan: StoredPlan, screens: Sequence[Screen]) -> None:
    if not plan.uses_sun:
        return
    missing = _sites_without_place(session, screens)
    if missing:
        raise Invalid("sunrise and sunset need the site's latitude and longitude; set them for: %(sites)s",
                      details={"field": "day_from"}, params={"sites": ", ".join(missing)})


def _members(session: Session, group_id: int) -> list[Screen]:
    return list(session.exec(select(Screen).join(ScreenGroupLink, col(ScreenGroupLink.screen_id) == Screen.id)
                             .where(ScreenGroupLink.group_id == group_id)).all())


def _save(session: Session, *, actor: User | None, row: Screen | ScreenGroup, value: StoredPlan | None,
          action: str, now: datetime) -> None:
    entity = "screen" if isinstance(row, Screen) else "screen_group"
    before = {"brightness": row.brightness}
    row.brightness = None if value is None else value.model_dump(mode="json")
    if isinstance(row, Screen):
        row.updated_at = now
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action=action, entity=entity, entity_id=row.id,
                 before=before, after={"brightness": row.brightness}, now=now)


def set_plan(session: Session, *, actor: User | None, row: Screen | ScreenGroup, plan: StoredPlan | None,
             now: datetime) -> None:
    """Give a screen or group a plan (None: remove it); the override in force, if any, is kept."""
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    if plan is not None:
        current = stored(row.brightness)
        if plan.override is None and current is not None and current.override is not None:
            plan = plan.model_copy(update={"override": current.override})
        members = [row] if isinstance(row, Screen) else _members(session, saved_id(row))
        _check_place(session, plan, members)
    _save(session, actor=actor, row=row, value=plan, action="brightness.plan", now=now)


def set_override(session: Session, *, actor: User | None, row: Screen | ScreenGroup, override: OverrideIn | None,
                 now: datetime) -> None:
    """Hold a level for the next minutes (None: end the override now); needs a plan to override."""
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    current = stored(row.brightness)
    if current is None:
        raise Invalid("set a brightness plan before overriding it", details={"field": "percent"})
    value = None if override is None else BrightnessOverride(
        percent=override.percent, until=now + timedelta(minutes=override.minutes))
    _save(session, actor=actor, row=row, value=current.model_copy(update={"override": value}),
          action="brightness.override", now=now)


def plans_for(session: Session, screens: Sequence[Screen], *, now: datetime
              ) -> dict[int, tuple[BrightnessPlan | None, str | None]]:
    """Each screen's plan as its manifest carries it, or why it carries none though one is set."""
    ids = [s.id for s in screens if s.id is not None]
    group_plan: dict[int, StoredPlan] = {}
    if ids:
        rows = session.exec(select(ScreenGroupLink.screen_id, ScreenGroup)
                            .join(ScreenGroup, col(ScreenGroup.id) == ScreenGroupLink.group_id)
                            .where(col(ScreenGroupLink.screen_id).in_(ids), col(ScreenGroup.brightness).is_not(None))
                            .order_by(col(ScreenGroup.id))).all()
        for screen_id, group in rows:
            plan = stored(group.brightness)
            if plan is not None:
                group_plan.setdefault(screen_id, plan)
    sites = {site.id: site for site in session.exec(
        select(Site).where(col(Site.id).in_({s.site_id for s in screens}))).all()} if screens else {}
    out: dict[int, tuple[BrightnessPlan | None, str | None]] = {}
    for screen in screens:
        plan = stored(screen.brightness) or group_plan.get(saved_id(screen))
        if plan is None:
            out[saved_id(screen)] = (None, None)
            continue
        place = coordinates_of(sites[screen.site_id]) if screen.site_id in sites else None
        if plan.uses_sun and place is None:
            out[saved_id(screen)] = (None, "brightness plan left out: the site has no latitude/longitude")
            continue
        out[saved_id(screen)] = (plan.plan(place, now=now), None)
    return out


def chart_points(plan: StoredPlan, site: Site | None, day: date, *, width: int = 480, height: int = 120
                 ) -> str | None:
    """The SVG polyline points of the plan's curve over a local day (None: it needs coordinates it lacks)."""
    place = coordinates_of(site) if site is not None else None
    if plan.uses_sun and place is None:
        return None
    curve = day_curve(plan.plan(place), day)
    start = curve[0][0]
    span = (curve[-1][0] - start).total_seconds()
    return " ".join(f"{(at - start).total_seconds() / span * width:.1f},{height - percent / 100 * height:.1f}"
                    for at, percent in curve)

