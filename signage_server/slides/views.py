"""Slide pages: list, drag-and-drop upload, the Vietnamese caption and live previews."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session

from signage_core.languages import Language, parse_language
from signage_server.assets import service as assets
from signage_server.assets.store import AssetStore
from signage_server.captions import revisions
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionRevision
from signage_server.deps import AssetStoreDep, NowDep, SessionDep, SettingsDep
from signage_server.errors import PreconditionFailed, SignageError
from signage_server.permissions import can_write_language
from signage_server.playlists import service as playlists
from signage_server.screens import zones
from signage_server.screens.models import Screen
from signage_server.slides import preview, service
from signage_server.slides.models import Slide
from signage_server.slides.pages import problem_text, refusal_text, shown_screens, slide_or_404
from signage_server.uploads import read_upload
from signage_server.users.models import Role
from signage_server.web import (
    AnyViewer,
    PageError,
    PageUser,
    Viewer,
    error_text,
    flash_all,
    gettext_for,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
Writers = Annotated[Viewer, PageUser(Role.OPERATOR)]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _image(store: AssetStore, session: Session, slide: Slide) -> object:
    if slide.asset_id is None:
        return None
    asset = assets.get_asset(session, asset_id=slide.asset_id)
    return preview.slide_image(store, slide, asset.sha256)


def draft_texts(request: Request, session: Session, slide: Slide) -> dict[Language, str]:
    """Stored captions, overridden by what the person is typing (query parameters vi/en/km)."""
    texts = preview.stored_texts(session, slide=slide)
    for lang in Language:
        value = request.query_params.get(lang.value)
        if value is not None:
            texts[lang] = value[: captions.MAX_CAPTION_CHARS]
    return texts


@router.get("/slides", response_class=HTMLResponse)
def slides_page(request: Request, session: SessionDep, settings: SettingsDep,
                viewer: Annotated[Viewer, PageUser(Role.OPERATOR, Role.TRANSLATOR, Role.APPROVER)],
                q: Annotated[str, Query(max_length=200)] = "", state: str = "", playlist: str = "",
                shown: str = "active") -> Response:
    """Slides with their Vietnamese text and per-language state; search and filters keep what was chosen."""
    filters = {"q": q.strip(), "state": state if state in service.STATES else "",
               "playlist": playlist if playlist.isdigit() else "", "shown": shown if shown in service.SHOWN else "active"}
    found = service.find_slides(session, query=filters["q"], state=filters["state"],
                                playlist_id=int(filters["playlist"]) if filters["playlist"] else None,
                                shown=filters["shown"])
    lists, _total = playlists.list_playlists(session, limit=500, offset=0)
    return render(request, "slides.html", viewer, rows=found,
                  languages=[lang.value for lang in service.languages_in_use(session)],
                  filters=filters, states=service.STATES, playlists=lists, shown_options=service.SHOWN,
                  can_upload=viewer.user.role in (Role.ADMIN, Role.OPERATOR),
                  max_bytes=settings.max_upload_bytes, max_mb=round(settings.max_upload_bytes / 1024 / 1024))


@router.post("/slides/{slide_id}/retire")
def retire_page(slide_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Writers,
                action: Annotated[str, Form()] = "retire") -> Response:
    """Retire (or restore) from the list or the slide page; the screens follow at this commit."""
    _ = gettext_for(request)
    slide = slide_or_404(request, session, slide_id)
    try:
        with session.begin_nested():
            if action == "restore":
                service.restore_slide(session, actor=viewer.user, slide_id=slide_id, now=now)
                done = _("Slide restored: it is back on the screens whose playlists hold it.")
            else:
                service.retire_slide(session, actor=viewer.user, slide_id=slide_id, now=now)
                done = _("Slide retired: it is off every screen; its captions and play records are kept.")
    except SignageError as exc:
        return redirect(request, f"/slides/{slide.id}", error_text(request, exc), "error")
    return redirect(request, f"/slides/{slide.id}", done)


def slide_name_from(filename: str | None, fallback: str) -> str:
    """A display name from the client's file name; never used as a path."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    clean = _CONTROL.sub("", unicodedata.normalize("NFC", stem)).strip()[:90]
    return clean or fallback


def unique_name(session: Session, name: str) -> str:
    candidate, n = name, 2
    while service.find_slide(session, name=candidate) is not None:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


@router.post("/slides/upload")
def upload_page(request: Request, files: list[UploadFile], session: SessionDep, settings: SettingsDep,
                store: AssetStoreDep, now: NowDep, viewer: Writers) -> Response:
    """The no-script fallback of the drag-and-drop: each file its own slide, each refusal its own message."""
    _ = gettext_for(request)
    messages: list[tuple[str, str]] = []
    for upload in files:
        label = slide_name_from(upload.filename, "slide")
        try:
            with session.begin_nested():
                data = read_upload(upload, settings.max_upload_bytes)
                asset, _new = assets.store_image(session, actor=viewer.user, store=store, data=data,
                                                 max_bytes=settings.max_upload_bytes,
                                                 max_pixels=settings.max_image_pixels, now=now)
                service.create_slide(session, actor=viewer.user, name=unique_name(session, label),
                                     asset_id=asset.id, now=now)
            messages.append(("info", f"{label}: {_('Uploaded')}"))
        except SignageError as exc:
            messages.append(("error", f"{label}: {_('Refused')} — {error_text(request, exc)}"))
    if not files:
        messages.append(("error", _("Choose at least one picture.")))
    response = redirect(request, "/slides")
    flash_all(request, response, messages)
    return response


def slide_view(request: Request, session: Session, viewer: Viewer, slide: Slide, *, status_code: int = 200,
               typed: str | None = None, error: str | None = None,
               conflict: CaptionRevision | None = None) -> Response:
    """The slide page; after a refused write it keeps what the person typed, with the reason (and on a
    conflict, the other person's text beside it)."""
    entries = revisions.by_language(session, slide_id=slide.id)  # type: ignore[arg-type]
    vi_entry = entries.get(Language.VI.value)
    vi = vi_entry.current if vi_entry else None
    shown = shown_screens(request, session, slide)
    return render(request, "slide.html", viewer, status_code=status_code, slide=slide, vi=vi,
                  vi_live=vi_entry.live if vi_entry else None, entries=entries,
                  captions=[e.current for e in entries.values()], shown=shown,
                  can_write=can_write_language(viewer.user, Language.VI),
                  can_retire=viewer.user.role in (Role.ADMIN, Role.OPERATOR),
                  typed=typed if typed is not None else (vi.text if vi else ""), error=error, conflict=conflict,
                  revision=conflict.token if conflict is not None else (vi.token if vi else ""),
                  field_problems=[problem_text(request, s.screen.name, p) for s in shown for p in s.problems
                                  if p.language == Language.VI])


@router.get("/slides/{slide_id}", response_class=HTMLResponse)
def slide_page(slide_id: int, request: Request, session: SessionDep,
               viewer: Annotated[Viewer, PageUser(Role.OPERATOR, Role.TRANSLATOR, Role.APPROVER)]) -> Response:
    return slide_view(request, session, viewer, slide_or_404(request, session, slide_id))


@router.post("/slides/{slide_id}/caption")
def save_caption(slide_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Writers,
                 text: Annotated[str, Form(max_length=4000)], action: Annotated[str, Form()] = "save",
                 revision: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Save or submit the Vietnamese; on refusal the page comes back with the typed text and the reason."""
    _ = gettext_for(request)
    slide = slide_or_404(request, session, slide_id)
    try:
        with session.begin_nested():
            captions.write_caption(session, actor=viewer.user, slide_id=slide.id, language="vi",  # type: ignore[arg-type]
                                   text=text, submit=action == "submit", now=now, if_match=revision or None)
    except SignageError as exc:
        conflict = captions.find_caption(session, slide_id=slide_id, language="vi") if isinstance(
            exc, PreconditionFailed) else None
        return slide_view(request, session, viewer, slide, status_code=exc.status_code, typed=text,
                          error=refusal_text(request, exc), conflict=conflict)
    done = _("Submitted for translation.") if action == "submit" else _("Draft saved.")
    return redirect(request, f"/slides/{slide_id}", done)


@router.get("/slides/{slide_id}/preview/{screen_id}.png")
def preview_png(slide_id: int, screen_id: int, request: Request, session: SessionDep, viewer: AnyViewer,
                store: AssetStoreDep, now: NowDep, lang: str | None = None) -> Response:
    """The frame as the player would draw it, with the captions being typed."""
    slide = slide_or_404(request, session, slide_id)
    screen = session.get(Screen, screen_id)
    if screen is None:
        raise PageError(404, gettext_for(request)("No such screen."))
    try:
        language = parse_language(lang) if lang else None
    except ValueError:
        language = None
    png = preview.render_png(preview.screen_spec(screen), draft_texts(request, session, slide),
                             _image(store, session, slide), language, screen=screen, now=now,  # type: ignore[arg-type]
                             ticker=zones.ticker_message(session, screen) if screen.zones is not None else None)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/slides/{slide_id}/preview.json")
def preview_json(slide_id: int, request: Request, session: SessionDep, viewer: AnyViewer) -> JSONResponse:
    """The renderer's validation problems per target screen, for the fields being typed."""
    slide = slide_or_404(request, session, slide_id)
    texts = draft_texts(request, session, slide)
    screens = []
    for item in shown_screens(request, session, slide, texts):
        screens.append({
            "id": item.screen.id, "name": item.screen.name, "layout": item.screen.layout.value,
            "frames": item.frames, "note": item.note, "reading": item.reading, "warnings": list(item.warnings),
            "problems": [{"language": p.language.value, "code": p.code.value, "message": p.message,
                          "text": problem_text(request, item.screen.name, p)} for p in item.problems],
        })
    return JSONResponse({"slide": slide.id, "screens": screens}, headers={"Cache-Control": "no-store"})


@router.get("/slides/{slide_id}/marks.json")
def marks_json(slide_id: int, request: Request, session: SessionDep, viewer: AnyViewer) -> JSONResponse:
    """The fields being typed with the break marks screens will get (Vietnamese word joins, Khmer
    hints): the caption editor shows them and lets the writer change them."""
    slide = slide_or_404(request, session, slide_id)
    marked = preview.for_renderer(draft_texts(request, session, slide))
    return JSONResponse({"slide": slide.id, "marks": {lang.value: text for lang, text in marked.items()}},
                        headers={"Cache-Control": "no-store"})
