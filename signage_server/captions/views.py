"""The translation queue: translators see the Vietnamese source, write, preview and review their languages."""

from __future__ import annotations

import difflib
import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session

from signage_core.languages import Language, language_name, parse_language
from signage_core.render.segment import drop_inner_hints
from signage_server.captions import revisions
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.deps import NowDep, SessionDep, app_settings
from signage_server.errors import Invalid, PreconditionFailed, SignageError
from signage_server.languages import parse_languages
from signage_server.slides import preview
from signage_server.slides import service as slides
from signage_server.slides.models import Slide
from signage_server.slides.pages import (
    caption_map,
    problem_text,
    refusal_text,
    shown_screens,
    slide_or_404,
)
from signage_server.typesetting import with_break_marks
from signage_server.users.models import Role, User
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    locale_of,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
Translators = Annotated[Viewer, PageUser(Role.TRANSLATOR)]
_OPEN = (CaptionState.DRAFT, CaptionState.RETURNED)
_WORDS = re.compile(r"\s+|[^\s]+")


def my_languages(user: User) -> list[Language]:
    """A translator's languages; admins may translate every foreign language."""
    if user.role == Role.ADMIN:
        return [lang for lang in Language if lang != Language.VI]
    return [parse_language(code) for code in user.languages if code != Language.VI.value]


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) runs from the old to the new Vietnamese, op in equal/delete/insert; words, not letters."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            out.append(("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            out.append(("insert", "".join(b[j1:j2])))
        if op == "equal":
            out.append(("equal", "".join(a[i1:i2])))
    return out


def waiting_for(session: Session, slide: Slide, languages: list[Language], user: User) -> bool:
    """Source handed over, and a language of mine still to write, update (outdated), fix, or review."""
    entries = revisions.by_language(session, slide_id=slide.id)  # type: ignore[arg-type]
    if revisions.translation_source(entries) is None:
        return False
    needed = preview.target_languages(preview.target_screens(session, slide_id=slide.id))  # type: ignore[arg-type]
    for lang in languages:
        if lang not in needed:
            continue
        entry = entries.get(lang.value)
        if entry is None or entry.outdated:
            return True
        c = entry.pending
        if c is not None and (c.state in _OPEN or (c.state == CaptionState.SUBMITTED and c.author_id != user.id)):
            return True
    return False


@router.get("/translate", response_class=HTMLResponse)
def queue(request: Request, session: SessionDep, viewer: Translators) -> Response:
    langs = my_languages(viewer.user)
    items, _total = slides.list_slides(session, limit=500, offset=0)
    rows = []
    for slide in items:
        if waiting_for(session, slide, langs, viewer.user):
            entries = revisions.by_language(session, slide_id=slide.id)  # type: ignore[arg-type]
            rows.append({"slide": slide, "vi": revisions.translation_source(entries), "entries": entries,
                         "captions": {code: e.current for code, e in entries.items()}})
    return render(request, "translate_list.html", viewer, rows=rows, languages=[lang.value for lang in langs])


@router.get("/translate/hints.json")
def automatic_hints(request: Request, viewer: Translators, language: str, text: str = "") -> JSONResponse:
    """The breaks a screen obeys: the translator's own (U+200B typed or edited), else the automatic ones."""
    lang = parse_languages([language], field="language")[0]
    hinted = drop_inner_hints(with_break_marks(lang, captions.clean_text(text))) if text.strip() else ""
    return JSONResponse({"language": lang.value, "text": hinted}, headers={"Cache-Control": "no-store"})


def problems_by_language(request: Request, session: Session, slide: Slide,
                         texts: dict[Language, str] | None = None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in shown_screens(request, session, slide, texts):
        for p in item.problems:
            found.setdefault(p.language.value, []).append(problem_text(request, item.screen.name, p))
    return found


def translate_view(request: Request, session: Session, viewer: Viewer, slide: Slide, *, status_code: int = 200,
                   language: str | None = None, typed: str | None = None, error: str | None = None,
                   conflict: CaptionRevision | None = None) -> Response:
    """The translation page; after a refused write, that language keeps the typed text and the reason."""
    langs = my_languages(viewer.user)
    entries = revisions.by_language(session, slide_id=slide.id)  # type: ignore[arg-type]
    source = revisions.translation_source(entries)
    diffs = {}
    for lang in langs:
        entry = entries.get(lang.value)
        if entry is not None and entry.outdated and source is not None:
            diffs[lang.value] = word_diff(entry.old_source.text if entry.old_source else "", source.text)
    texts = {code: e.current.text for code, e in entries.items()}
    revision = {code: e.current.token for code, e in entries.items()}
    if language is not None and typed is not None:
        texts[language] = typed
        if conflict is not None:
            revision[language] = conflict.token
    return render(request, "translate.html", viewer, status_code=status_code, slide=slide, vi=source,
                  captions={code: e.current for code, e in entries.items()}, entries=entries,
                  texts=texts, revision=revision, diffs=diffs,
                  errors={language: error} if language and error else {},
                  conflicts={language: conflict} if language and conflict else {},
                  languages=[lang.value for lang in langs],
                  lang_names={lang.value: language_name(lang.value, locale_of(request)) for lang in langs},
                  break_editor={lang.value for lang in langs if not lang.info.spaced},
                  shown=shown_screens(request, session, slide),
                  field_problems=problems_by_language(request, session, slide))


@router.get("/translate/{slide_id}", response_class=HTMLResponse)
def translate_page(slide_id: int, request: Request, session: SessionDep, viewer: Translators) -> Response:
    return translate_view(request, session, viewer, slide_or_404(request, session, slide_id))


@router.post("/translate/{slide_id}/{language}")
def translate_action(slide_id: int, language: str, request: Request, session: SessionDep, now: NowDep,
                     viewer: Translators, action: Annotated[str, Form()],
                     text: Annotated[str, Form(max_length=4000)] = "",
                     reason: Annotated[str, Form(max_length=2000)] = "",
                     revision: Annotated[str, Form(max_length=40)] = "") -> Response:
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
            done = _apply(request, session, slide, lang, viewer.user, action, text, reason, revision or None, now)
    except SignageError as exc:
        if action not in ("save", "submit"):
            return redirect(request, back, refusal_text(request, exc), "error")
        conflict = captions.find_caption(session, slide_id=slide_id, language=lang.value) if isinstance(
            exc, PreconditionFailed) else None
        return translate_view(request, session, viewer, slide, status_code=exc.status_code, language=lang.value,
                              typed=text, error=refusal_text(request, exc), conflict=conflict)
    return redirect(request, back if action != "approve" else "/translate", done)


def _apply(request: Request, session: Session, slide: Slide, lang: Language, user: User, action: str,
           text: str, reason: str, revision: str | None, now: object) -> str:
    _ = gettext_for(request)
    sid: int = slide.id  # type: ignore[assignment]
    if action in ("save", "submit"):
        captions.write_caption(session, actor=user, slide_id=sid, language=lang.value, text=text,
                               submit=action == "submit", now=now, if_match=revision)  # type: ignore[arg-type]
        return _("Translation submitted.") if action == "submit" else _("Draft saved.")
    if action == "approve":
        captions.approve_caption(session, actor=user, slide_id=sid, language=lang.value, now=now,  # type: ignore[arg-type]
                                 if_match=revision, readable=app_settings(request).readability)
        return _("Caption approved.")
    if action == "return":
        captions.return_caption(session, actor=user, slide_id=sid, language=lang.value, reason=reason,
                                now=now)  # type: ignore[arg-type]
        return _("Caption returned.")
    raise Invalid("unknown action %(action)s", field="action", params={"action": repr(action)})


Approvers = Annotated[Viewer, PageUser(Role.APPROVER)]


def needs_approver(session: Session, slide: Slide) -> bool:
    """A caption handed in, or every required caption live but the slide not yet approved."""
    entries = revisions.by_language(session, slide_id=slide.id)  # type: ignore[arg-type]
    if any(e.pending is not None and e.pending.state == CaptionState.SUBMITTED for e in entries.values()):
        return True
    return bool(entries) and slide.approved_at is None and all(e.live is not None for e in entries.values())


@router.get("/approve", response_class=HTMLResponse)
def approval_queue(request: Request, session: SessionDep, viewer: Approvers) -> Response:
    items, _total = slides.list_slides(session, limit=500, offset=0)
    rows = [{"slide": s, "captions": caption_map(session, s)} for s in items if needs_approver(session, s)]
    return render(request, "approve_list.html", viewer, rows=rows,
                  languages=[lang.value for lang in slides.languages_in_use(session)])


@router.get("/approve/{slide_id}", response_class=HTMLResponse)
def approval_page(slide_id: int, request: Request, session: SessionDep, viewer: Approvers) -> Response:
    slide = slide_or_404(request, session, slide_id)
    status = slides.publish_status(session, slide=slide)
    entries = revisions.by_language(session, slide_id=slide_id)
    vi = entries.get(Language.VI.value)
    new_vi = vi is not None and vi.pending is not None and vi.pending.state == CaptionState.SUBMITTED
    return render(request, "approve.html", viewer, slide=slide, entries=entries,
                  captions=[e.current for e in entries.values()], missing=status.missing_languages,
                  outdated=status.outdated_languages,
                  offer_urgent=new_vi and len(status.required_languages) > 1,
                  shown=shown_screens(request, session, slide))


@router.post("/approve/{slide_id}")
def approve(slide_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Approvers,
            urgent: Annotated[str, Form()] = "") -> Response:
    """Approve every handed-in caption (none of one's own) after checking them on every screen, then the slide.

    Each approval runs the same validation as the live preview and submit (captions.service).
    """
    _ = gettext_for(request)
    slide = slide_or_404(request, session, slide_id)
    try:
        with session.begin_nested():
            for code, entry in revisions.by_language(session, slide_id=slide_id).items():
                # A translation of an older Vietnamese waits for its translator (badge on the page).
                if entry.pending is not None and entry.pending.state == CaptionState.SUBMITTED and not entry.outdated:
                    captions.approve_caption(session, actor=viewer.user, slide_id=slide_id, language=code,
                                             now=now, urgent=code == Language.VI.value and urgent == "1",
                                             readable=app_settings(request).readability)
            slides.approve_slide(session, actor=viewer.user, slide_id=slide_id, now=now)
    except SignageError as exc:
        return redirect(request, f"/approve/{slide_id}", refusal_text(request, exc), "error")
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
