"""What the slide and caption pages both show: target screens with their problems, in the page's language."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fastapi import Request
from sqlmodel import Session

from signage_core.languages import Language, language_name
from signage_core.render import Problem, ProblemCode
from signage_server.captions.models import CaptionRevision
from signage_server.deps import app_settings
from signage_server.errors import Invalid, PreconditionFailed, SignageError
from signage_server.reports import formatting
from signage_server.screens.models import Screen
from signage_server.slides import preview, readability, service
from signage_server.slides.models import Slide
from signage_server.web import PageError, error_text, gettext_for, locale_of


@dataclass(frozen=True)
class Shown:
    """One target screen on a page: its frames (one per language when it rotates) and problems."""

    screen: Screen
    frames: list[str | None]
    problems: list[Problem]
    note: str = ""  # why the frame shows the picture alone (no caption in this screen's languages yet)
    reading: str = ""  # the estimated reading time per language and the time shown, in the page's language
    warnings: tuple[str, ...] = ()  # the readability check's problems, in the page's language


def reading_text(request: Request, verdict: readability.Verdict) -> str:
    """ "Estimated reading time: Vietnamese 4 s, English 3 s; shown 10 s" in the page's language."""
    _ = gettext_for(request)
    if not verdict.readings:
        return ""
    parts = ", ".join(f"{language_name(r.language.value, locale_of(request))} "
                      + _("%(n)s s") % {"n": math.ceil(r.seconds_needed)} for r in verdict.readings)
    shown = verdict.readings[0].seconds_shown
    tail = (_("shown %(s)s s each") % {"s": formatting.number(shown, 1)} if shown is not None
            else _("not in a playlist yet"))
    return _("Estimated reading time") + f": {parts}; {tail}"


def slide_or_404(request: Request, session: Session, slide_id: int) -> Slide:
    try:
        return service.get_slide(session, slide_id=slide_id)
    except SignageError:
        raise PageError(404, gettext_for(request)("No such slide.")) from None


def shown_screens(request: Request, session: Session, slide: Slide,
                  texts: dict[Language, str] | None = None) -> list[Shown]:
    """Every target screen with the problems the renderer finds on it for these texts."""
    _ = gettext_for(request)
    texts = texts if texts is not None else preview.stored_texts(session, slide=slide)
    out = []
    for item in preview.check_screens(session, slide, texts, app_settings(request).readability):
        spec = preview.screen_spec(item.screen)
        written = [lang.value for lang in spec.languages if texts.get(lang, "").strip()]
        frames: list[str | None] = [*written] if written and spec.layout == "rotate" else [None]
        note = "" if written else _("No caption yet: the preview shows the picture alone. The slide goes on "
                                    "this screen only with approved captions.")
        warnings = [problem_text(request, item.screen.label, p) for p in item.readable.problems]
        broken = preview.words_broken(spec, texts, has_image=slide.asset_id is not None) if not item.problems else {}
        warnings += [language_name(lang.value, locale_of(request)) + ", " + _("a word is wider than a line of this screen and is "
                     "split across lines %(n)s times; a shorter word or a line break reads better.") % {"n": n}
                     for lang, n in broken.items()]
        out.append(Shown(item.screen, frames, item.problems, note, reading_text(request, item.readable),
                         tuple(warnings)))
    return out


# The renderer's problem codes as a page says them (the renderer's own messages are English).
PROBLEM_TEXT = {
    ProblemCode.DOES_NOT_FIT: "The caption does not fit on this screen.",
    ProblemCode.MISSING_GLYPH: "A character cannot be drawn with the screen's fonts.",
    ProblemCode.TOO_SMALL: "The caption would be smaller than the smallest legible size.",
    ProblemCode.EMPTY: "The caption is empty.",
}


# The readability check's problems, with their figures (slides/readability.py).
READABILITY_TEXT = {
    ProblemCode.UNREADABLE_AT_DISTANCE: "letters about {mm} mm high cannot be read from {distance:g} m "
                                        "(at least {needed} mm needed).",
    ProblemCode.TOO_LONG_TO_READ: "{words} words take about {needed} s to read; this screen shows them for {shown:g} s.",
}


def lang_name(request: Request, problem: Problem | dict[str, object]) -> str:
    _ = gettext_for(request)
    code = problem.language.value if isinstance(problem, Problem) else str(problem["language"])
    return language_name(code, locale_of(request)) + ", "


_GLYPH = re.compile(r"“(.+?)” \((U\+[0-9A-F]+)")


def problem_text(request: Request, screen_name: str, problem: Problem | dict[str, object]) -> str:
    """One problem in the page's language, naming the screen (a Problem or the API's problem dict)."""
    _ = gettext_for(request)
    code = problem.code if isinstance(problem, Problem) else ProblemCode(str(problem["code"]))
    message = problem.message if isinstance(problem, Problem) else str(problem["message"])
    if code in READABILITY_TEXT:
        params = problem.params if isinstance(problem, readability.ReadabilityProblem) else problem.get("params", {})  # type: ignore[union-attr]
        return f"{screen_name}: {lang_name(request, problem)}" + _(READABILITY_TEXT[code]).format(**params)  # type: ignore[arg-type]
    glyph = _GLYPH.search(message) if code == ProblemCode.MISSING_GLYPH else None
    if glyph is not None:  # which character matters: the writer has to find it
        return f"{screen_name}: " + _("The character “{char}” ({code}) cannot be drawn with the screen's fonts; "
                                      "replace or remove it.").format(char=glyph.group(1), code=glyph.group(2))
    return f"{screen_name}: {_(PROBLEM_TEXT[code])}"


def refusal_text(request: Request, exc: SignageError) -> str:
    """Why a write was refused, in the page's language; a renderer refusal lists each screen's problem."""
    _ = gettext_for(request)
    listed = exc.details.get("problems") if isinstance(exc, Invalid) else None
    if listed:
        return _("This caption cannot be shown as written") + ": " + "; ".join(
            problem_text(request, str(p["screen"]), p) for p in listed)
    if isinstance(exc, PreconditionFailed):
        return _("Someone else changed this caption since you opened it. Nothing was saved: compare the two "
                 "texts below, keep yours or start from theirs, and save again.")
    return error_text(request, exc)


def caption_map(session: Session, slide: Slide) -> dict[str, CaptionRevision]:
    return {c.language: c for c in service.captions_of(session, slide_id=slide.id)}  # type: ignore[arg-type]
