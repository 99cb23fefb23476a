"""HTTP for the caption workflow: write, submit, approve, return; ETag / If-Match against lost updates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from sqlmodel import Session

from signage_server.captions import revisions
from signage_server.captions import service as captions
from signage_server.captions.schemas import CaptionApprove, CaptionRead, CaptionReturn, CaptionWrite
from signage_server.deps import CurrentUser, NowDep, SessionDep, SettingsDep
from signage_server.errors import NotFound
from signage_server.slides import service as slides

router = APIRouter(tags=["captions"])
IfMatch = Annotated[str | None, Header(alias="If-Match")]


def _read(session: Session, response: Response, slide_id: int, language: str) -> CaptionRead:
    entry = captions.language_revisions(session, slide_id=slide_id, language=language)
    if entry is None:
        raise NotFound("caption", f"{slide_id}/{language}")
    out = CaptionRead.of(entry)
    response.headers["ETag"] = out.etag
    return out


@router.get("/slides/{slide_id}/captions")
def list_captions(slide_id: int, session: SessionDep, user: CurrentUser) -> list[CaptionRead]:
    slides.get_slide(session, slide_id=slide_id)
    return [CaptionRead.of(e) for e in revisions.by_language(session, slide_id=slide_id).values()]


@router.get("/slides/{slide_id}/captions/{language}")
def get_caption(slide_id: int, language: str, session: SessionDep, user: CurrentUser,
                response: Response) -> CaptionRead:
    """The pending revision (else the live one), with its ETag for the next write."""
    captions.get_caption(session, slide_id=slide_id, language=language)
    return _read(session, response, slide_id, language)


@router.get("/slides/{slide_id}/captions/{language}/revisions")
def caption_history(slide_id: int, language: str, session: SessionDep, user: CurrentUser) -> list[dict[str, object]]:
    """Every revision, newest first: text, state, author, approver, the Vietnamese it translates."""
    slides.get_slide(session, slide_id=slide_id)
    return [{"id": r.id, "text": r.text, "state": str(r.state), "source_revision_id": r.source_id,
             "author_id": r.author_id, "approved_by_id": r.approved_by_id,
             "approved_at": r.approved_at.isoformat() if r.approved_at else None, "urgent": r.urgent,
             "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat()}
            for r in captions.history(session, slide_id=slide_id, language=language)]


@router.put("/slides/{slide_id}/captions/{language}")
def write_caption(slide_id: int, language: str, body: CaptionWrite, session: SessionDep, user: CurrentUser,
                  now: NowDep, response: Response, if_match: IfMatch = None) -> CaptionRead:
    """Edit the pending revision (made when there is none); 412 with the current text when If-Match is stale."""
    captions.write_caption(session, actor=user, slide_id=slide_id, language=language, text=body.text,
                           submit=body.submit, now=now, if_match=if_match)
    return _read(session, response, slide_id, language)


@router.post("/slides/{slide_id}/captions/{language}/submit")
def submit_caption(slide_id: int, language: str, session: SessionDep, user: CurrentUser, now: NowDep,
                   response: Response, if_match: IfMatch = None) -> CaptionRead:
    captions.submit_caption(session, actor=user, slide_id=slide_id, language=language, now=now, if_match=if_match)
    return _read(session, response, slide_id, language)


@router.post("/slides/{slide_id}/captions/{language}/approve")
def approve_caption(slide_id: int, language: str, session: SessionDep, user: CurrentUser, now: NowDep,
                    response: Response, settings: SettingsDep, if_match: IfMatch = None,
                    body: CaptionApprove | None = None) -> CaptionRead:
    captions.approve_caption(session, actor=user, slide_id=slide_id, language=language, now=now,
                             urgent=body.urgent if body else False, if_match=if_match,
                             readable=settings.readability)
    return _read(session, response, slide_id, language)


@router.post("/slides/{slide_id}/captions/{language}/return")
def return_caption(slide_id: int, language: str, body: CaptionReturn, session: SessionDep, user: CurrentUser,
                   now: NowDep, response: Response) -> CaptionRead:
    captions.return_caption(session, actor=user, slide_id=slide_id, language=language, reason=body.reason, now=now)
    return _read(session, response, slide_id, language)
