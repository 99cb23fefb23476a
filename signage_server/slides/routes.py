"""HTTP for slides, their image upload and the caption workflow."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, UploadFile, status
from sqlmodel import Session

from signage_server.assets.routes import read_upload, store_of
from signage_server.captions import revisions
from signage_server.captions.schemas import CaptionRead
from signage_server.deps import CurrentUser, NowDep, SessionDep, SettingsDep
from signage_server.errors import Invalid
from signage_server.pagination import Page, PageDep
from signage_server.slides import service
from signage_server.slides.models import Slide
from signage_server.slides.schemas import SlideCreate, SlideRead, SlideUpdate

router = APIRouter(tags=["slides"])


def slide_out(session: Session, slide: Slide) -> SlideRead:
    status_ = service.publish_status(session, slide=slide)
    return SlideRead.model_validate({
        **slide.model_dump(),
        "captions": [CaptionRead.of(e) for e in revisions.by_language(session, slide_id=slide.id).values()],  # type: ignore[arg-type]
        "required_languages": status_.required_languages,
        "missing_languages": status_.missing_languages,
        "outdated_languages": status_.outdated_languages,
        "on_air": status_.on_air,
        "publishable": status_.publishable,
    })


@router.get("/slides", response_model=Page[SlideRead])
def list_slides(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[SlideRead]:
    items, total = service.list_slides(session, limit=page.limit, offset=page.offset)
    return Page(items=[slide_out(session, s) for s in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/slides", status_code=status.HTTP_201_CREATED)
def create_slide(body: SlideCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> SlideRead:
    slide = service.create_slide(session, actor=user, name=body.name, asset_id=body.asset_id, now=now)
    return slide_out(session, slide)


@router.get("/slides/{slide_id}")
def get_slide(slide_id: int, session: SessionDep, user: CurrentUser) -> SlideRead:
    return slide_out(session, service.get_slide(session, slide_id=slide_id))


@router.patch("/slides/{slide_id}")
def update_slide(slide_id: int, body: SlideUpdate, session: SessionDep, user: CurrentUser, now: NowDep) -> SlideRead:
    fields = body.model_dump(exclude_unset=True)
    if fields.get("name", "") is None:
        raise Invalid("name cannot be null", field="name")
    return slide_out(session, service.update_slide(session, actor=user, slide_id=slide_id, fields=fields, now=now))


@router.delete("/slides/{slide_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_slide(slide_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
    service.delete_slide(session, actor=user, slide_id=slide_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/slides/{slide_id}/image")
def upload_slide_image(slide_id: int, file: UploadFile, request: Request, session: SessionDep,
                       user: CurrentUser, settings: SettingsDep, now: NowDep) -> SlideRead:
    data = read_upload(file, settings.max_upload_bytes)
    slide = service.set_slide_image(session, actor=user, slide_id=slide_id, store=store_of(request), data=data,
                                    max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                                    now=now)
    return slide_out(session, slide)


@router.post("/slides/{slide_id}/approve")
def approve_slide(slide_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> SlideRead:
    return slide_out(session, service.approve_slide(session, actor=user, slide_id=slide_id, now=now))
