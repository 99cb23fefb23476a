"""The playlist pages: build a playlist from slides, reorder by buttons or drag, set each duration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from signage_server.db import saved_id
from signage_server.deps import NowDep, SessionDep, app_settings
from signage_server.errors import Invalid, SignageError
from signage_server.playlists import service
from signage_server.slides import service as slides_service
from signage_server.slides.models import Slide
from signage_server.users.models import Role
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
Editors = Annotated[Viewer, PageUser(Role.OPERATOR)]


@router.get("/playlists", response_class=HTMLResponse)
def playlists_page(request: Request, session: SessionDep, viewer: Editors) -> Response:
    found, _total = service.list_playlists(session, limit=1000, offset=0)
    counts = {p.id: len(service.items_of(session, playlist_id=saved_id(p))) for p in found}
    return render(request, "playlists.html", viewer, playlists=found, counts=counts)


@router.post("/playlists")
def create_playlist(request: Request, session: SessionDep, now: NowDep, viewer: Editors,
                    name: Annotated[str, Form(max_length=100)],
                    display_name: Annotated[str, Form(max_length=1000)] = "") -> Response:
    try:
        with session.begin_nested():
            playlist = service.create_playlist(session, actor=viewer.user, name=name, display_name=display_name,
                                               now=now)
    except SignageError as exc:
        return redirect(request, "/playlists", error_text(request, exc), "error",
                        keep={"name": name, "display_name": display_name})
    return redirect(request, f"/playlists/{playlist.id}", gettext_for(request)("Playlist created."))


@router.get("/playlists/{playlist_id}", response_class=HTMLResponse)
def playlist_page(playlist_id: int, request: Request, session: SessionDep, viewer: Editors) -> Response:
    try:
        playlist = service.get_playlist(session, playlist_id=playlist_id)
    except SignageError:
        raise PageError(404, gettext_for(request)("No such playlist.")) from None
    items = service.items_of(session, playlist_id=playlist_id)
    every = session.exec(select(Slide).order_by(col(Slide.name))).all()
    # A retired slide stays in its playlists (restoring brings it back) but plays nowhere: marked, not offered.
    # Items too brief for their text on some screen: warned beside the row (saving them is refused when the
    # readability rule refuses; an item that was already there stays until someone changes it).
    short: dict[int, list[str]] = {}
    _ = gettext_for(request)
    for found in service.short_items(session, playlist_id=playlist_id, rules=app_settings(request).readability):
        short.setdefault(saved_id(found.slide), []).append(_(
            "%(screen)s: its text takes about %(needed)s s to read but is shown for %(shown)s s.") % {
            "screen": found.screen.label, "needed": found.problem.params["needed"],
            "shown": f"{found.problem.params['shown']:g}"})
    # The Vietnamese a person reads beside each slide's identifier (the slides list's own column).
    vi_texts = {f.slide.id: f.vi_text[0] for f in slides_service.find_slides(session, shown="all")}
    return render(request, "playlist.html", viewer, playlist=playlist, items=items, vi_texts=vi_texts,
                  slides=[s for s in every if s.retired_at is None], slide_names={s.id: s.name for s in every},
                  retired={s.id for s in every if s.retired_at is not None},
                  short={sid: sorted(set(texts)) for sid, texts in short.items()})


def _duration(value: str) -> float:
    try:
        return float(value.replace(",", "."))
    except ValueError:
        raise Invalid("duration %(value)s must be a number of seconds", field="duration_s",
                      params={"value": repr(value)}) from None


@router.post("/playlists/{playlist_id}")
def save_playlist(playlist_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Editors,
                  slide_id: Annotated[list[int] | None, Form()] = None,
                  duration_s: Annotated[list[str] | None, Form()] = None,
                  move: Annotated[str, Form()] = "", remove: Annotated[str, Form()] = "",
                  add_slide: Annotated[str, Form()] = "", add_duration: Annotated[str, Form()] = "10",
                  display_name: Annotated[str | None, Form(max_length=1000)] = None) -> Response:
    """One form for everything: rows in page order (drag reorders them), plus the button pressed."""
    _ = gettext_for(request)
    back = f"/playlists/{playlist_id}"
    ids, durations = slide_id or [], duration_s or []
    if len(ids) != len(durations):
        return redirect(request, back, _("The form was incomplete; reload the page and try again."), "error")
    try:
        rows = [(sid, _duration(d)) for sid, d in zip(ids, durations, strict=True)]
        if move:
            index_text, _sep, direction = move.partition(":")
            index = int(index_text) if index_text.isdigit() else -1
            other = index - 1 if direction == "up" else index + 1
            if 0 <= index < len(rows) and 0 <= other < len(rows):
                rows[index], rows[other] = rows[other], rows[index]
        if remove.isdigit() and int(remove) < len(rows):
            del rows[int(remove)]
        if add_slide.isdigit():
            rows.append((int(add_slide), _duration(add_duration)))
        with session.begin_nested():
            service.update_playlist(session, actor=viewer.user, playlist_id=playlist_id, now=now,
                                    display_name=display_name, items=[service.ItemSpec(slide_id=s, duration_s=d) for s, d in rows],
                                    readable=app_settings(request).readability)
    except SignageError as exc:
        return redirect(request, back, error_text(request, exc), "error")
    return redirect(request, back, _("Playlist saved."))
