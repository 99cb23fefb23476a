"""Previews and validation by the players' own renderer, at each target screen's real size and layout."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image
from sqlmodel import Session, col, select

from signage_core.languages import Language, ordered
from signage_core.render import (
    CaptionError,
    Problem,
    ScreenSpec,
    add_khmer_break_hints,
    render_slide,
    validate,
)
from signage_server.assets.store import AssetStore
from signage_server.playlists.models import PlaylistItem
from signage_server.screens.models import Enrolment, Screen
from signage_server.screens.service import screens_for_playlist, spec_of
from signage_server.slides.models import Slide
from signage_server.slides.service import captions_of


@dataclass(frozen=True)
class ScreenProblems:
    screen: Screen
    problems: list[Problem]


screen_spec = spec_of  # the renderer's view of a screen row: the one spec its player draws with


def target_screens(session: Session, *, slide_id: int) -> list[Screen]:
    """Screens whose playlists hold the slide; a slide in no playlist yet is previewed on every screen."""
    found: dict[int, Screen] = {}
    playlist_ids = set(session.exec(select(PlaylistItem.playlist_id).where(PlaylistItem.slide_id == slide_id)).all())
    for playlist_id in playlist_ids:
        for screen in screens_for_playlist(session, playlist_id=playlist_id):
            found[screen.id] = screen  # type: ignore[index]
    if not found:
        for screen in session.exec(select(Screen).order_by(col(Screen.name))).all():
            found[screen.id] = screen  # type: ignore[index]
    return sorted((s for s in found.values() if s.enrolment != Enrolment.REVOKED), key=lambda s: s.name)


def target_languages(screens: list[Screen]) -> list[Language]:
    """Every language some target screen shows; all of them when there is no screen yet."""
    if not screens:
        return list(Language)
    return ordered({Language(code) for screen in screens for code in screen.languages})


def stored_texts(session: Session, *, slide: Slide) -> dict[Language, str]:
    return {Language(c.language): c.text for c in captions_of(session, slide_id=slide.id)}  # type: ignore[arg-type]


def for_renderer(texts: Mapping[Language, str]) -> dict[Language, str]:
    """Khmer gets ICU's break hints, exactly as the compiler ships it, so the preview wraps like the player."""
    return {lang: add_khmer_break_hints(text) if lang == Language.KM else text
            for lang, text in texts.items() if text.strip()}


def slide_image(store: AssetStore, slide: Slide, asset_sha: str | None) -> Image.Image | None:
    if slide.asset_id is None or asset_sha is None:
        return None
    with Image.open(io.BytesIO(store.read(asset_sha))) as image:
        return image.convert("RGB")


def problems(spec: ScreenSpec, texts: Mapping[Language, str], *, has_image: bool) -> list[Problem]:
    """Each written caption checked on this screen together with the others, as it will be drawn."""
    captions = for_renderer(texts)
    found: list[Problem] = []
    for lang, text in captions.items():
        others = {other: value for other, value in captions.items() if other != lang and other in spec.languages}
        found.extend(validate(text, lang, spec, others=others, has_image=has_image))
    return found


def render_png(spec: ScreenSpec, texts: Mapping[Language, str], image: Image.Image | None,
               language: Language | None = None) -> bytes:
    """The frame the LED would show; a caption the renderer refuses is drawn without text."""
    captions = {lang: text for lang, text in for_renderer(texts).items() if lang in spec.languages}
    try:
        frame = render_slide(spec, captions, image, language=language)
    except CaptionError:
        frame = render_slide(spec, {}, image) if image is not None else Image.new("RGB", (spec.width, spec.height))
    out = io.BytesIO()
    frame.save(out, format="PNG")
    return out.getvalue()
