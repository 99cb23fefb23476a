"""HTTP for slides, their image upload and the caption workflow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, UploadFile, status
from sqlmodel import Session

from signage_server.captions import revisions
from signage_server.captions.schemas import CaptionRead
from signage_server.deps import AssetStoreDep, CurrentUser, NowDep, SessionDep, SettingsDep
from signage_server.errors import Invalid
from signage_server.pagination import Page, PageDep
from signage_server.slides import service
from signage_server.slides.models import Slide
from signage_server.slides.schemas import SlideCreate, SlideRead, SlideUpdate
from signage_server.uploads import read_upload

router = APIRouter(tags=["slides"])


def slide_out(session: Session, slide: Slide) -> SlideRead:
    status_ = service.publish_status(session, slide=slide)
    entries = revisions.by_language(session, slide_id=slide.id)  # type: ignore[arg-type]
    return SlideRead.model_validate({
        **slide.model_dump(),
        "retired": slide.retired_at is not None,
        "caption_states": service.language_states(entries, status_.required_languages),
        "captions": [CaptionRead.of(e) for e in entries.values()],
        "required_languages": status_.required_languages,
        "missing_languages": status_.missing_languages,
        "outdated_languages": status_.outdated_languages,
        "on_air": status_.on_air,
        "publishable": status_.publishable,
    })


@router.get("/slides", response_model=Page[SlideRead])
def list_slides(session: SessionDep, user: CurrentUser, page: PageDep,
                q: Annotated[str, Query(max_length=200, description="name or caption text, accents optional")] = "",
                state: Annotated[str, Query(description="a caption state in some language: "
                                            "live, pending, outdated, missing")] = "",
                playlist_id: int | None = None,
                shown: Annotated[str, Query(description="active (default), retired or all")] = "active",
                ) -> Page[SlideRead]:
    found = service.find_slides(session, query=q, state=state, playlist_id=playlist_id, shown=shown)
    items = found[page.offset: page.offset + page.limit]
    return Page(items=[slide_out(session, f.slide) for f in items], total=len(found), limit=page.limit,
                offset=page.offset)


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


@router.post("/slides/{slide_id}/retire")
def retire_slide(slide_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> SlideRead:
    """Off every screen at the next manifest (compiled in this commit); captions, history, play records kept."""
    return slide_out(session, service.retire_slide(session, actor=user, slide_id=slide_id, now=now))


@router.post("/slides/{slide_id}/restore")
def restore_slide(slide_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> SlideRead:
    return slide_out(session, service.restore_slide(session, actor=user, slide_id=slide_id, now=now))


@router.put("/slides/{slide_id}/image")
def upload_slide_image(slide_id: int, file: UploadFile, store: AssetStoreDep, session: SessionDep,
                       user: CurrentUser, settings: SettingsDep, now: NowDep) -> SlideRead:
    data = read_upload(file, settings.max_upload_bytes)
    slide = service.set_slide_image(session, actor=user, slide_id=slide_id, store=store, data=data,
                                    max_bytes=settings.max_upload_bytes, max_pixels=settings.max_image_pixels,
                                    now=now)
    return slide_out(session, slide)


@router.post("/slides/{slide_id}/approve")
def approve_slide(slide_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> SlideRead:
    return slide_out(session, service.approve_slide(session, actor=user, slide_id=slide_id, now=now))
