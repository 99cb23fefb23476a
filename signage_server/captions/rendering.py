"""Renderer check at submit and approval time: a caption that cannot be shown never reaches review or a screen."""

from __future__ import annotations

from sqlmodel import Session, select

from signage_core.languages import Language
from signage_core.render import Problem, validate
from signage_core.render.spec import ScreenSpec
from signage_server.errors import Invalid
from signage_server.playlists.models import PlaylistItem
from signage_server.screens.models import Screen
from signage_server.screens.service import screens_for_playlist, spec_of
from signage_server.slides.models import Slide


def target_screens(session: Session, *, slide_id: int) -> list[Screen]:
    """Every screen that may show the slide (as default playlist or through a schedule)."""
    found: dict[int, Screen] = {}
    playlist_ids = set(session.exec(select(PlaylistItem.playlist_id).where(PlaylistItem.slide_id == slide_id)).all())
    for playlist_id in sorted(playlist_ids):
        for screen in screens_for_playlist(session, playlist_id=playlist_id):
            found[screen.id] = screen  # type: ignore[index]
    return [found[k] for k in sorted(found)]


def require_renderable(session: Session, *, slide: Slide, language: Language, text: str) -> None:
    """422 listing every (screen, language, message) problem the renderer finds on the target screens."""
    problems: list[dict[str, object]] = []
    found: dict[ScreenSpec, list[Problem]] = {}  # a province's screens come in a few models: lay out once each
    for screen in target_screens(session, slide_id=slide.id):  # type: ignore[arg-type]
        if language.value not in screen.languages:
            continue  # the screen never draws this language
        spec = spec_of(screen)
        if spec not in found:
            found[spec] = validate(text, language, spec, has_image=slide.asset_id is not None)
        for problem in found[spec]:
            problems.append({"screen_id": screen.id, "screen": screen.name, "language": problem.language.value,
                             "code": problem.code.value, "message": problem.message})
    if problems:
        summary = "; ".join(f"{p['screen']}: {p['message']}" for p in problems[:3])
        raise Invalid(f"caption cannot be shown as written ({summary})", field="text",
                      details={"problems": problems})
