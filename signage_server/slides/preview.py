"""Previews and validation by the players' own renderer, at each target screen's real size and layout."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from PIL import Image
from sqlalchemy import func
from sqlmodel import Session, select

from signage_core.languages import Language, ordered
from signage_core.render import (
    CaptionError,
    Problem,
    ProblemCode,
    ScreenSpec,
    background,
    default_registry,
    layout_slide,
    render_slide,
    validate,
)
from signage_core.render.layout import Box
from signage_server.assets.store import AssetStore
from signage_server.errors import Invalid, NotFound
from signage_server.playlists.models import PlaylistItem
from signage_server.screens import zones
from signage_server.screens.models import Screen
from signage_server.screens.service import spec_of, viewing_distance
from signage_server.slides import readability
from signage_server.slides.models import Slide
from signage_server.slides.service import captions_of, preview_screens
from signage_server.typesetting import with_break_marks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreenProblems:
    screen: Screen
    problems: list[Problem]  # the renderer's: the caption cannot be drawn as written (submit refuses these)
    # The readability check on this screen: warnings at preview, refusals at approval (Rules.refuse).
    readable: readability.Verdict = field(default_factory=readability.Verdict)


screen_spec = spec_of  # the renderer's view of a screen row: the one spec its player draws with


def target_screens(session: Session, *, slide_id: int) -> list[Screen]:
    """The screens a caption is previewed and validated on: slides.service.preview_screens, the one rule."""
    return preview_screens(session, slide_id=slide_id)


def target_languages(screens: list[Screen]) -> list[Language]:
    """Every language some target screen shows; all of them when there is no screen yet."""
    if not screens:
        return list(Language)
    return ordered({Language(code) for screen in screens for code in screen.languages})


def stored_texts(session: Session, *, slide: Slide) -> dict[Language, str]:
    """The texts being worked on: each language's pending revision, else its live one."""
    return {Language(c.language): c.text for c in captions_of(session, slide_id=slide.id)}  # type: ignore[arg-type]


def for_renderer(texts: Mapping[Language, str]) -> dict[Language, str]:
    """Break marks (Khmer hints, Vietnamese joins) exactly as the compiler ships them, so the preview wraps
    like the player."""
    return {lang: with_break_marks(lang, text) for lang, text in texts.items() if text.strip()}


def slide_image(store: AssetStore, slide: Slide, asset_sha: str | None) -> Image.Image | None:
    if slide.asset_id is None or asset_sha is None:
        return None
    try:
        with Image.open(io.BytesIO(store.read(asset_sha))) as image:
            return image.convert("RGB")
    except (NotFound, OSError, ValueError):  # a lost or unreadable file: preview the text, log the fault
        log.exception("slide %s: image %s cannot be read for a preview", slide.id, asset_sha)
        return None


def problems(spec: ScreenSpec, texts: Mapping[Language, str], *, has_image: bool) -> list[Problem]:
    """Each written caption checked on this screen together with the others, as it will be drawn."""
    captions = for_renderer(texts)
    found: list[Problem] = []
    for lang, text in captions.items():
        others = {other: value for other, value in captions.items() if other != lang and other in spec.languages}
        found.extend(validate(text, lang, spec, others=others, has_image=has_image))
    return found


def words_broken(spec: ScreenSpec, texts: Mapping[Language, str], *, has_image: bool) -> dict[Language, int]:
    """Per language, how many lines end inside a word on this screen (a word alone wider than the line):
    shown as a warning, never refused. Layouts the validation already made come from the renderer's cache."""
    captions = {lang: text for lang, text in for_renderer(texts).items() if lang in spec.languages}
    if not captions or spec.layout == "ticker":  # a ticker is one line: nothing is broken
        return {}
    registry = default_registry()
    rounds = [lang for lang in spec.languages if lang in captions] if spec.layout == "rotate" else [None]
    out: dict[Language, int] = {}
    for language in rounds:
        try:
            layout = layout_slide(spec, captions, registry, has_image=has_image, language=language)
        except CaptionError:
            continue  # the validation's own problem says why
        for placed in layout.blocks:
            if placed.block.breaks_inside_words:
                out[placed.block.language] = placed.block.breaks_inside_words
    return out


def picture_only(spec: ScreenSpec, image: Image.Image | None) -> Image.Image:
    """The picture alone at the screen's size (no caption to draw, or one the renderer refuses): the page
    says why beside it. Drawn without the layout, which every layout (rotate too) accepts."""
    if image is None:
        return Image.new("RGB", (spec.width, spec.height), spec.background)
    # Undimmed: the player darkens a picture only under text, and there is none.
    return background(spec.model_copy(update={"image_dim": 0.0}), image, Box(0, 0, spec.width, spec.height))


def slide_frame(spec: ScreenSpec, texts: Mapping[Language, str], image: Image.Image | None,
                language: Language | None = None) -> Image.Image:
    """The spec's frame, never an error: a caption the renderer refuses gives the picture alone."""
    captions = {lang: text for lang, text in for_renderer(texts).items() if lang in spec.languages}
    try:
        return render_slide(spec, captions, image, language=language) if captions else picture_only(spec, image)
    except CaptionError:
        return picture_only(spec, image)
    except Exception:  # a preview is advice: a renderer bug must show a frame and be logged, never a 500
        log.exception("preview of %d×%d %s failed", spec.width, spec.height, spec.layout)
        return picture_only(spec, image)


def render_png(spec: ScreenSpec, texts: Mapping[Language, str], image: Image.Image | None,
               language: Language | None = None, *, screen: Screen | None = None,
               now: datetime | None = None, ticker: Mapping[Language, str] | None = None) -> bytes:
    """The frame the LED would show; never an error: a caption the renderer refuses (or no caption at all,
    which the rotate layout cannot lay out) gives the picture alone, and the page says why in words.

    On a zoned screen (given `screen` and `now`) the slide sits in the main zone of the whole composed frame;
    `ticker` is the message its ticker playlist scrolls (zones.ticker_message).
    """
    captions = {lang: text for lang, text in for_renderer(texts).items() if lang in spec.languages}
    frame = slide_frame(spec, texts, image, language)
    stored = zones.stored(screen.zones) if screen is not None else None
    if screen is not None and stored is not None and now is not None:
        # The ticker scrolls this slide unless a ticker playlist scrolls other messages.
        scrolled = (ticker or zones.TICKER_LABELS) if stored.ticker_playlist_id is not None else captions
        frame = zones.composed(screen, stored.template, frame, now=now, widgets=stored.widgets,
                               ticker_captions=scrolled or zones.TICKER_LABELS)
    out = io.BytesIO()
    frame.save(out, format="PNG")
    return out.getvalue()


def shown_for(session: Session, *, slide_id: int) -> float | None:
    """How long the slide is on screen: its shortest item duration in any playlist (None: in none yet)."""
    found = session.exec(select(func.min(PlaylistItem.duration_s)).where(PlaylistItem.slide_id == slide_id)).one()
    return float(found) if found is not None else None


def check_screens(session: Session, slide: Slide, texts: Mapping[Language, str],
                  rules: readability.Rules | None = None, *, duration_s: float | None = None) -> list[ScreenProblems]:
    """The one validation: every target screen, the texts checked together as the player draws them, and
    whether people can read them there (letter size at the viewing distance, reading time).

    The live preview, submit and approval all call this, so the preview's verdict is submit's verdict; a
    playlist being edited passes the `duration_s` it is about to give the slide.
    """
    rules = rules or readability.Rules()
    has_image = slide.asset_id is not None
    duration = duration_s if duration_s is not None else shown_for(session, slide_id=slide.id)  # type: ignore[arg-type]
    captions = for_renderer(texts)
    found: dict[ScreenSpec, list[Problem]] = {}  # a province's screens come in a few models: lay out once each
    verdicts: dict[tuple[ScreenSpec, float, float], readability.Verdict] = {}
    out = []
    for screen in target_screens(session, slide_id=slide.id):  # type: ignore[arg-type]
        spec = screen_spec(screen)
        if spec not in found:
            found[spec] = problems(spec, texts, has_image=has_image)
        distance = viewing_distance(session, screen, default_m=rules.viewing_distance_m).metres
        key = (spec, screen.pixel_pitch_mm, distance)
        if key not in verdicts:
            verdicts[key] = readability.check(
                spec, {lang: text for lang, text in captions.items() if lang in spec.languages},
                pitch_mm=screen.pixel_pitch_mm, distance_m=distance, duration_s=duration, rules=rules,
                has_image=has_image)
        out.append(ScreenProblems(screen, found[spec], verdicts[key]))
    return out


def require_fits(session: Session, *, slide: Slide, language: Language, text: str,
                 readable: readability.Rules | None = None) -> None:
    """422 naming every (screen, problem) of this language's text, checked with the slide's other texts.

    With `readable` (approval) and its `refuse` on, text people cannot read there is refused too; submit
    passes None: a writer may send a long text to review, the preview has already warned.
    """
    texts = stored_texts(session, slide=slide)
    texts[language] = text
    listed: list[dict[str, object]] = []
    for item in check_screens(session, slide, texts, readable):
        refused = item.problems + (item.readable.problems if readable is not None and readable.refuse else [])
        for problem in refused:
            if problem.language == language:
                listed.append({"screen_id": item.screen.id, "screen": item.screen.name,
                               "language": problem.language.value, "code": problem.code.value,
                               "message": problem.message,
                               **({"params": problem.params} if isinstance(problem, readability.ReadabilityProblem)
                                  else {})})
    if listed:
        summary = "; ".join(f"{p['screen']}: {p['message']}" for p in listed[:3])
        raise Invalid(f"caption cannot be shown as written ({summary})", field="text",
                      details={"problems": listed})


@dataclass(frozen=True)
class ShortItem:
    """A slide given less time than its text takes to read on one screen that shows it."""

    slide: Slide
    duration_s: float
    screen: Screen
    problem: readability.ReadabilityProblem


def too_short(session: Session, *, slide_id: int, duration_s: float,
              rules: readability.Rules | None = None) -> list[ShortItem]:
    """The reading-time verdict of check_screens for a slide shown duration_s (letter size is the caption's
    matter, judged at approval): one entry per screen and language that cannot be read in time."""
    slide = session.get(Slide, slide_id)
    if slide is None:
        return []
    out = []
    for item in check_screens(session, slide, stored_texts(session, slide=slide), rules, duration_s=duration_s):
        for problem in item.readable.problems:
            if problem.code == ProblemCode.TOO_LONG_TO_READ and isinstance(problem, readability.ReadabilityProblem):
                out.append(ShortItem(slide, duration_s, item.screen, problem))
    return out
