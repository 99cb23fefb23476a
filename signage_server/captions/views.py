"""The translation queue: translators see the Vietnamese source, write, preview and review their languages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from signage_core.languages import Language, parse_language
from signage_core.render.layout import LANGUAGE_NAMES
from signage_server.captions import service as captions
from signage_server.captions.models import Caption, CaptionState
from signage_server.deps import NowDep, SessionDep
from signage_server.errors import Invalid, SignageError
from signage_server.slides import preview
from signage_server.slides import service as slides
from signage_server.slides.models import Slide
from signage_server.slides.views import caption_map, shown_screens, slide_or_404
from signage_server.users.models import Role, User
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
Translators = Annotated[Viewer, PageUser(Role.TRANSLATOR)]
_OPEN = (CaptionState.DRAFT, CaptionState.RETURNED)


def my_languages(user: User) -> list[Language]:
    """A translator's languages; admins may translate every foreign language."""
    if user.role == Role.ADMIN:
        return [lang for lang in Language if lang != Language.VI]
    return [parse_language(code) for code in user.languages if code != Language.VI.value]


def waiting_for(session: Session, slide: Slide, languages: list[Language], user: User) -> bool:
    """Source handed over, and a language of mine still to write, fix, or review for someone else."""
    rows = caption_map(session, slide)
    source = rows.get(Language.VI.value)
    if source is None or source.state not in (CaptionState.SUBMITTED, CaptionState.APPROVED):
        return False
    needed = preview.target_languages(preview.target_screens(session, slide_id=slide.id))  # type: ignore[arg-type]
    for lang in languages:
        if lang not in needed:
            continue
        c = rows.get(lang.value)
        if c is None or c.state in _OPEN or (c.state == CaptionState.SUBMITTED and c.author_id != user.id):
            return True
    return False


@router.get("/translate", response_class=HTMLResponse)
def queue(request: Request, session: SessionDep, viewer: Translators) -> Response:
    langs = my_languages(viewer.user)
    items, _total = slides.list_slides(session, limit=500, offset=0)
    rows = []
    for slide in items:
        if waiting_for(session, slide, langs, viewer.user):
            found = caption_map(session, slide)
            rows.append({"slide": slide, "vi": found.get("vi"), "captions": found})
    return render(request, "translate_list.html", viewer, rows=rows, languages=[lang.value for lang in langs])


def problems_by_language(request: Request, session: Session, slide: Slide,
                         texts: dict[Language, str] | None = None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in shown_screens(request, session, slide, texts):
        for p in item.problems:
            found.setdefault(p.language.value, []).append(f"{item.screen.name}: {p.message}")
    return found


@router.get("/translate/{slide_id}", response_class=HTMLResponse)
def translate_page(slide_id: int, request: Request, session: SessionDep, viewer: Translators) -> Response:
    slide = slide_or_404(request, session, slide_id)
    langs = my_languages(viewer.user)
    rows = caption_map(session, slide)
    return render(request, "translate.html", viewer, slide=slide, vi=rows.get("vi"), captions=rows,
                  languages=[lang.value for lang in langs],
                  lang_names={lang.value: LANGUAGE_NAMES[lang] for lang in langs},
                  shown=shown_screens(request, session, slide),
                  field_problems=problems_by_language(request, session, slide))


def refuse_if_invalid(request: Request, session: Session, slide: Slide, language: Language) -> None:
    """Nobody approves a caption the renderer cannot show on one of its screens."""
    problems = problems_by_language(request, session, slide).get(language.value)
    if problems:
        raise Invalid(gettext_for(request)("This caption cannot be shown as written") + ": " + "; ".join(problems),
                      field="text")


@router.post("/translate/{slide_id}/{language}")
def translate_action(slide_id: int, language: str, request: Request, session: SessionDep, now: NowDep,
                     viewer: Translators, action: Annotated[str, Form()],
                     text: Annotated[str, Form(max_length=4000)] = "",
                     reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    _ = gettext_for(request)
    slide = slide_or_404(request, session, slide_id)
    back = f"/translate/{slide_id}"
    try:
        lang = parse_language(language)
    except ValueError:
        raise PageError(404, _("No such language.")) from None
    if lang not in my_languages(viewer.user):
        raise PageError(403, _("This is not one of your languages."))
    try:
        with session.begin_nested():
            done = _apply(request, session, slide, lang, viewer.user, action, text, reason, now)
    except SignageError as exc:
        return redirect(request, back, error_text(request, exc), "error")
    return redirect(request, back if action != "approve" else "/translate", done)


def _apply(request: Request, session: Session, slide: Slide, lang: Language, user: User, action: str,
           text: str, reason: str, now: object) -> str:
    _ = gettext_for(request)
    sid: int = slide.id  # type: ignore[assignment]
    if action in ("save", "submit"):
        captions.write_caption(session, actor=user, slide_id=sid, language=lang.value, text=text,
                               submit=action == "submit", now=now)  # type: ignore[arg-type]
        return _("Translation submitted.") if action == "submit" else _("Draft saved.")
    if action == "approve":
        refuse_if_invalid(request, session, slide, lang)
        captions.approve_caption(session, actor=user, slide_id=sid, language=lang.value, now=now)  # type: ignore[arg-type]
        return _("Caption approved.")
    if action == "return":
        captions.return_caption(session, actor=user, slide_id=sid, language=lang.value, reason=reason,
                                now=now)  # type: ignore[arg-type]
        return _("Caption returned.")
    raise Invalid(f"unknown action {action!r}", field="action")


def caption_rows(session: Session, slide: Slide) -> list[Caption]:
    return slides.captions_of(session, slide_id=slide.id)  # type: ignore[arg-type]


Approvers = Annotated[Viewer, PageUser(Role.APPROVER)]


def needs_approver(session: Session, slide: Slide) -> bool:
    """A caption handed in, or every caption approved but not yet the slide."""
    rows = caption_rows(session, slide)
    if any(c.state == CaptionState.SUBMITTED for c in rows):
        return True
    return bool(rows) and slide.approved_at is None and all(c.state == CaptionState.APPROVED for c in rows)


@router.get("/approve", response_class=HTMLResponse)
def approval_queue(request: Request, session: SessionDep, viewer: Approvers) -> Response:
    items, _total = slides.list_slides(session, limit=500, offset=0)
    rows = [{"slide": s, "captions": caption_map(session, s)} for s in items if needs_approver(session, s)]
    return render(request, "approve_list.html", viewer, rows=rows, languages=[lang.value for lang in Language])


@router.get("/approve/{slide_id}", response_class=HTMLResponse)
def approval_page(slide_id: int, request: Request, session: SessionDep, viewer: Approvers) -> Response:
    slide = slide_or_404(request, session, slide_id)
    status = slides.publish_status(session, slide=slide)
    return render(request, "approve.html", viewer, slide=slide, captions=caption_rows(session, slide),
                  missing=status.missing_languages, shown=shown_screens(request, session, slide))


@router.post("/approve/{slide_id}")
def approve(slide_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Approvers) -> Response:
    """Approve every handed-in caption (none of one's own) after checking them on every screen, then the slide."""
    _ = gettext_for(request)
    slide = slide_or_404(request, session, slide_id)
    try:
        with session.begin_nested():
            for caption in caption_rows(session, slide):
                if caption.state == CaptionState.SUBMITTED:
                    lang = Language(caption.language)
                    refuse_if_invalid(request, session, slide, lang)
                    captions.approve_caption(session, actor=viewer.user, slide_id=slide_id, language=lang.value,
                                             now=now)
            slides.approve_slide(session, actor=viewer.user, slide_id=slide_id, now=now)
    except SignageError as exc:
        return redirect(request, f"/approve/{slide_id}", error_text(request, exc), "error")
    # The follow-up page shows each target screen acknowledging the recompiled manifest.
    return redirect(request, f"/approve/{slide_id}/rollout", _("Slide approved.") + f" {slide.name}")


@router.post("/approve/{slide_id}/return")
def approval_return(slide_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Approvers,
                    language: Annotated[str, Form()], reason: Annotated[str, Form(max_length=2000)]) -> Response:
    slide_or_404(request, session, slide_id)
    try:
        with session.begin_nested():
            captions.return_caption(session, actor=viewer.user, slide_id=slide_id, language=language,
                                    reason=reason, now=now)
    except SignageError as exc:
        return redirect(request, f"/approve/{slide_id}", error_text(request, exc), "error")
    return redirect(request, f"/approve/{slide_id}", gettext_for(request)("Caption returned."))
