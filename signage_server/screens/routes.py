"""HTTP for sites, groups and screens: parse, call the service, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from signage_server.db import saved_id
from signage_server.deps import CurrentUser, NowDep, OptionalTransportDep, SessionDep
from signage_server.errors import Invalid
from signage_server.pagination import Page, PageDep
from signage_server.screens import brightness, service
from signage_server.screens.brightness import OverrideIn, StoredPlan
from signage_server.screens.models import Screen, ScreenGroup
from signage_server.screens.schemas import (
    BrightnessRead,
    EnrolmentUpdate,
    GroupCreate,
    GroupRead,
    GroupUpdate,
    ScreenCreate,
    ScreenRead,
    ScreenUpdate,
    SiteCreate,
    SiteRead,
    SiteUpdate,
)
from signage_server.transport import hooks
from signage_server.transport.hooks import screen_changed

router = APIRouter(tags=["screens"])


def _screen_out(screen: Screen) -> ScreenRead:
    return ScreenRead.model_validate({**screen.model_dump(), "group_ids": sorted(g.id for g in screen.groups)})


@router.get("/sites", response_model=Page[SiteRead])
def list_sites(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[SiteRead]:
    items, total = service.list_sites(session, limit=page.limit, offset=page.offset)
    return Page(items=[SiteRead.model_validate(s) for s in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/sites", status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> SiteRead:
    site = service.create_site(session, actor=user, slug=body.slug, name=body.name, district=body.district, now=now,
                               latitude=body.latitude, longitude=body.longitude)
    return SiteRead.model_validate(site)


@router.get("/sites/{site_id}")
def get_site(site_id: int, session: SessionDep, user: CurrentUser) -> SiteRead:
    return SiteRead.model_validate(service.get_site(session, site_id=site_id))


@router.patch("/sites/{site_id}")
def update_site(site_id: int, body: SiteUpdate, session: SessionDep, user: CurrentUser, now: NowDep) -> SiteRead:
    placed = {"latitude", "longitude"} & body.model_fields_set
    distance = {"viewing_distance_m": body.viewing_distance_m} if "viewing_distance_m" in body.model_fields_set else {}
    site = service.update_site(session, actor=user, site_id=site_id, name=body.name, district=body.district, now=now,
                               coordinates=(body.latitude, body.longitude) if placed else None, **distance)
    return SiteRead.model_validate(site)


@router.delete("/sites/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_site(site_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
    service.delete_site(session, actor=user, site_id=site_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/groups", response_model=Page[GroupRead])
def list_groups(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[GroupRead]:
    items, total = service.list_groups(session, limit=page.limit, offset=page.offset)
    return Page(items=[GroupRead.model_validate(g) for g in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/groups", status_code=status.HTTP_201_CREATED)
def create_group(body: GroupCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> GroupRead:
    group = service.create_group(session, actor=user, name=body.name, description=body.description, now=now)
    return GroupRead.model_validate(group)


@router.get("/groups/{group_id}")
def get_group(group_id: int, session: SessionDep, user: CurrentUser) -> GroupRead:
    return GroupRead.model_validate(service.get_group(session, group_id=group_id))


@router.patch("/groups/{group_id}")
def update_group(group_id: int, body: GroupUpdate, session: SessionDep, user: CurrentUser, now: NowDep) -> GroupRead:
    group = service.update_group(session, actor=user, group_id=group_id, name=body.name,
                                 description=body.description, now=now)
    return GroupRead.model_validate(group)


@router.delete("/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_group(group_id: int, transport: OptionalTransportDep, session: SessionDep, user: CurrentUser,
                 now: NowDep) -> Response:
    hooks.delete_group(transport, session, actor=user, group_id=group_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/screens", response_model=Page[ScreenRead])
def list_screens(session: SessionDep, user: CurrentUser, page: PageDep, site_id: int | None = None) -> Page[ScreenRead]:
    items, total = service.list_screens(session, site_id=site_id, limit=page.limit, offset=page.offset)
    return Page(items=[_screen_out(s) for s in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/screens", status_code=status.HTTP_201_CREATED)
def create_screen(body: ScreenCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> ScreenRead:
    screen = service.create_screen(session, actor=user, fields=body.model_dump(), now=now)
    return _screen_out(screen)


@router.get("/screens/{screen_id}")
def get_screen(screen_id: int, session: SessionDep, user: CurrentUser) -> ScreenRead:
    return _screen_out(service.get_screen(session, screen_id=screen_id))


@router.patch("/screens/{screen_id}")
def update_screen(screen_id: int, body: ScreenUpdate, transport: OptionalTransportDep, session: SessionDep, user: CurrentUser,
                  now: NowDep) -> ScreenRead:
    fields = body.model_dump(exclude_unset=True)
    for key in ("site_id", "name", "width_px", "height_px", "pixel_pitch_mm", "orientation", "layout",
                "languages", "foreign_ratio", "group_ids"):
        if key in fields and fields[key] is None:
            raise Invalid("%(field)s cannot be null", field=key, params={"field": key})
    before = [saved_id(g) for g in service.get_screen(session, screen_id=screen_id).groups]
    screen = service.update_screen(session, actor=user, screen_id=screen_id, fields=fields, now=now)
    screen_changed(transport, session, screen, groups_before=before)
    return _screen_out(screen)


@router.put("/screens/{screen_id}/enrolment")
def set_enrolment(screen_id: int, body: EnrolmentUpdate, transport: OptionalTransportDep,
                  session: SessionDep, user: CurrentUser, now: NowDep) -> ScreenRead:
    screen = service.set_enrolment(session, actor=user, screen_id=screen_id, state=body.enrolment, now=now)
    screen_changed(transport, session, screen, groups_before=None)
    return _screen_out(screen)


@router.delete("/screens/{screen_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_screen(screen_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
    service.delete_screen(session, actor=user, screen_id=screen_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- brightness plans (docs/operations.md, "Brightness") ---------------------------------------

def _plan_row(session: SessionDep, kind: str, row_id: int) -> Screen | ScreenGroup:
    return service.get_screen(session, screen_id=row_id) if kind == "screens" else \
        service.get_group(session, group_id=row_id)


def _plan_out(row: Screen | ScreenGroup) -> BrightnessRead:
    return BrightnessRead(plan=brightness.stored(row.brightness))


def _routes(kind: str) -> None:
    path = f"/{kind}/{{row_id}}/brightness"

    @router.get(path, name=f"get_{kind}_brightness")
    def get_plan(row_id: int, session: SessionDep, user: CurrentUser) -> BrightnessRead:
        return _plan_out(_plan_row(session, kind, row_id))

    @router.put(path, name=f"set_{kind}_brightness")
    def set_plan(row_id: int, body: StoredPlan, session: SessionDep, user: CurrentUser,
                 now: NowDep) -> BrightnessRead:
        row = _plan_row(session, kind, row_id)
        brightness.set_plan(session, actor=user, row=row, plan=body, now=now)
        return _plan_out(row)

    @router.delete(path, status_code=status.HTTP_204_NO_CONTENT, name=f"delete_{kind}_brightness")
    def delete_plan(row_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
        brightness.set_plan(session, actor=user, row=_plan_row(session, kind, row_id), plan=None, now=now)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.put(path + "/override", name=f"set_{kind}_brightness_override")
    def set_override(row_id: int, body: OverrideIn, session: SessionDep, user: CurrentUser,
                     now: NowDep) -> BrightnessRead:
        row = _plan_row(session, kind, row_id)
        brightness.set_override(session, actor=user, row=row, override=body, now=now)
        return _plan_out(row)

    @router.delete(path + "/override", name=f"delete_{kind}_brightness_override")
    def end_override(row_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> BrightnessRead:
        row = _plan_row(session, kind, row_id)
        brightness.set_override(session, actor=user, row=row, override=None, now=now)
        return _plan_out(row)


_routes("screens")
_routes("groups")
