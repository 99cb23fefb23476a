"""Validation at submission time, so a caption that cannot be shown never reaches a screen."""

from __future__ import annotations

from collections.abc import Mapping

from signage_core.languages import Language
from signage_core.render.draw import fit_ticker
from signage_core.render.errors import CaptionError, Problem, ProblemCode
from signage_core.render.fonts import FontRegistry, default_registry
from signage_core.render.layout import (
    HOME_SCRIPT,
    LANGUAGE_NAMES,
    Prepared,
    block_at,
    does_not_fit,
    fit_single,
    gap,
    layout_slide,
    missing_glyph_problems,
    pitch_at,
    prepare,
    present,
    scaled,
    size_factors,
    text_box,
)
from signage_core.render.spec import ScreenSpec
from signage_core.text import normalize_caption


def validate(
    caption: str,
    language: Language,
    screen: ScreenSpec,
    *,
    others: Mapping[Language, str] | None = None,
    has_image: bool = False,
    registry: FontRegistry | None = None,
) -> list[Problem]:
    """The reasons `caption` cannot be shown on `screen`; empty when it can.

    Without `others`, a stacked caption must fit its fair share of the screen at the smallest
    legible sizes, so captions validated one by one always fit together. With `others` (the
    slide's other captions) the whole slide is checked as it will be drawn.
    """
    registry = registry or default_registry()
    name = LANGUAGE_NAMES[language]
    if not normalize_caption(caption):
        return [Problem(ProblemCode.EMPTY, f"The {name} caption is empty.", language)]
    prep = prepare(caption, language, registry)
    problems = missing_glyph_problems(prep)
    if language not in screen.languages:
        return problems
    box, _image_box = text_box(screen, has_image)
    try:
        if screen.layout == "ticker" and others is not None:
            captions = {**others, language: caption}
            preps = [prepare(captions[lang], lang, registry) for lang in present(screen, captions)]
            fit_ticker(preps, box.height, screen)
        elif screen.layout == "ticker":
            problems += _ticker(prep, box.height, screen, registry)
        elif screen.layout == "rotate":
            fit_single(prep, box, "rotate")
        elif others is not None:
            captions = {**others, language: caption}
            layout_slide(screen, captions, registry, has_image=has_image)
        else:
            problems += _stacked_share(prep, screen, registry, has_image)
    except CaptionError as exc:
        mine = [p for p in exc.problems if p.language is language]
        problems += mine or exc.problems
    return _unique(problems)


def _smallest_sizes(
    prep: Prepared, screen: ScreenSpec, registry: FontRegistry
) -> tuple[list[Language], list[int]]:
    """The screen's languages and the sizes they get when the slide is at its smallest legible."""
    langs = list(screen.languages)
    factors = size_factors(langs, screen.foreign_ratio)
    mins = [
        prep.min_px if lang is prep.language
        else max(lang.info.min_px, registry.min_px[HOME_SCRIPT[lang]])
        for lang in langs
    ]
    primary = max(mins)
    while any(scaled(primary, f) < m for f, m in zip(factors, mins, strict=True)):
        primary += 1
    return langs, [scaled(primary, f) for f in factors]


def _stacked_share(
    prep: Prepared, screen: ScreenSpec, registry: FontRegistry, has_image: bool
) -> list[Problem]:
    box, _ = text_box(screen, has_image)
    langs, sizes = _smallest_sizes(prep, screen, registry)
    # Shares use the chain's first font so they do not depend on the other captions' text.
    pitches = [
        pitch_at(prepare("x", lang, registry), s) for lang, s in zip(langs, sizes, strict=True)
    ]
    gaps = sum(gap(s) for s in sizes[1:])
    i = langs.index(prep.language)
    share = (box.height - gaps) * pitches[i] / sum(pitches)
    size = sizes[i]
    own_pitch = pitch_at(prep, size)
    if share < own_pitch:
        return [
            Problem(
                ProblemCode.TOO_SMALL,
                f"The {screen.size_label} screen is too small to show {LANGUAGE_NAMES[prep.language]} "
                f"at its smallest legible size ({size} px) with {len(langs)} languages stacked.",
                prep.language,
            )
        ]
    block = block_at(prep, size, box.width)
    if block is None or block.height > share:
        return [does_not_fit(prep, size, box, block, int(share // own_pitch), "stacked")]
    return []


def _ticker(
    prep: Prepared, box_h: int, screen: ScreenSpec, registry: FontRegistry
) -> list[Problem]:
    langs, sizes = _smallest_sizes(prep, screen, registry)
    size = sizes[langs.index(prep.language)]
    if pitch_at(prep, size) > box_h:
        return [
            Problem(
                ProblemCode.TOO_SMALL,
                f"The {screen.size_label} ticker is too low to show {LANGUAGE_NAMES[prep.language]} "
                f"at its smallest legible size ({size} px).",
                prep.language,
            )
        ]
    return []


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
