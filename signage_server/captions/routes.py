"""HTTP for the caption workflow: write, submit, approve, return."""

from __future__ import annotations

from fastapi import APIRouter

from signage_server.captions import service as captions
from signage_server.captions.schemas import CaptionRead, CaptionReturn, CaptionWrite
from signage_server.deps import CurrentUser, NowDep, SessionDep
from signage_server.slides import service as slides

router = APIRouter(tags=["captions"])


@router.get("/slides/{slide_id}/captions")
def list_captions(slide_id: int, session: SessionDep, user: CurrentUser) -> list[CaptionRead]:
    slides.get_slide(session, slide_id=slide_id)
    return [CaptionRead.model_validate(c) for c in slides.captions_of(session, slide_id=slide_id)]


@router.get("/slides/{slide_id}/captions/{language}")
def get_caption(slide_id: int, language: str, session: SessionDep, user: CurrentUser) -> CaptionRead:
    return CaptionRead.model_validate(captions.get_caption(session, slide_id=slide_id, language=language))


@router.put("/slides/{slide_id}/captions/{language}")
def write_caption(slide_id: int, language: str, body: CaptionWrite, session: SessionDep, user: CurrentUser,
                  now: NowDep) -> CaptionRead:
    caption = captions.write_caption(session, actor=user, slide_id=slide_id, language=language, text=body.text,
                                     submit=body.submit, now=now)
    return CaptionRead.model_validate(caption)


@router.post("/slides/{slide_id}/captions/{language}/submit")
def submit_caption(slide_id: int, language: str, session: SessionDep, user: CurrentUser, now: NowDep) -> CaptionRead:
    caption = captions.submit_caption(session, actor=user, slide_id=slide_id, language=language, now=now)
    return CaptionRead.model_validate(caption)


@router.post("/slides/{slide_id}/captions/{language}/approve")
def approve_caption(slide_id: int, language: str, session: SessionDep, user: CurrentUser,
                    now: NowDep) -> CaptionRead:
    caption = captions.approve_caption(session, actor=user, slide_id=slide_id, language=language, now=now)
    return CaptionRead.model_validate(caption)


@router.post("/slides/{slide_id}/captions/{language}/return")
def return_caption(slide_id: int, language: str, body: CaptionReturn, session: SessionDep, user: CurrentUser,
                   now: NowDep) -> CaptionRead:
    caption = captions.return_caption(session, actor=user, slide_id=slide_id, language=language,
                                      reason=body.reason, now=now)
    return CaptionRead.model_validate(caption)
