"""Can a person read this slide on this LED, from where they stand, in the time it is shown?

Two rules (sources and defaults: docs/architecture.md, "Readability"):

- *Letter height.* A capital letter must be at least `mm_per_m` millimetres high per metre of viewing
  distance (the LED industry's rule of thumb: 1 inch of character height per 10 feet, 25 mm per 3 m,
  about 8.3 mm/m). On an LED a letter's height is its pixels times the pixel pitch; a capital is about
  0.7 of the font size the renderer chose (Noto's cap height is 714/1000 em).
- *Reading time.* The text must be readable at `words_per_s` in the time it is on screen (signage
  guidance: about 3 words a second for short messages). A reader reads one language: on a stacked
  screen every language has the item's whole duration, on rotate and ticker screens the languages share
  it (the player's equal rotation slots). Khmer words are counted at ICU's break points.

One verdict for preview and approval: slides.preview.check_screens computes these beside the renderer's
problems, the pages show them as warnings with the estimated reading time, and caption approval refuses
them when the setting `readability_refuse` is on.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from signage_core.languages import Language
from signage_core.render import (
    CaptionError,
    Problem,
    ProblemCode,
    ScreenSpec,
)
from signage_core.render.draw import fit_ticker
from signage_core.render.fonts import default_registry
from signage_core.render.layout import layout_slide, prepare, present
from signage_server.typesetting import with_break_marks

CAP_HEIGHT = 0.7  # a capital letter's height as a share of the font size (Noto Sans: 0.714)
_ZWSP = "\u200b"


@dataclass(frozen=True)
class Rules:
    """The settings of the check (config.Settings readability_*; these defaults are the settings' defaults)."""

    viewing_distance_m: float = 10.0
    mm_per_m: float = 8.3
    words_per_s: float = 3.0
    refuse: bool = True


@dataclass(frozen=True)
class ReadabilityProblem(Problem):
    """A readability problem with its figures, so a page can say it in its own language."""

    params: dict[str, float] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Reading:
    """One language on one screen: how big its letters are, how long it takes to read, how long it is shown."""

    language: Language
    words: int
    seconds_needed: float
    seconds_shown: float | None  # None: the slide is in no playlist yet, so no duration to compare
    letter_mm: float | None  # None: the renderer could not lay it out (its own problem says why)
    needed_mm: float


@dataclass(frozen=True)
class Verdict:
    readings: list[Reading] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def seconds_needed(self) -> float:
        return max((r.seconds_needed for r in self.readings), default=0.0)


def words(text: str, language: Language) -> int:
    """Words a reader reads: at the break hints for scripts written without spaces, else by spaces."""
    if not language.info.spaced:
        text = with_break_marks(language, text).replace(_ZWSP, " ")
    return len(text.split())


def font_sizes(spec: ScreenSpec, captions: Mapping[Language, str], *, has_image: bool) -> dict[Language, int]:
    """The font size (px) the renderer gives each language on this screen, as the player draws it.

    Cached per (screen, texts, picture): a playlist page checks every item on every view, and only
    the durations change between views (a 20-item playlist took 0.8-1.3 s uncached)."""
    return dict(_font_sizes(spec, tuple(sorted(captions.items())), has_image))


@functools.lru_cache(maxsize=2048)
def _font_sizes(spec: ScreenSpec, items: tuple[tuple[Language, str], ...], has_image: bool
                ) -> tuple[tuple[Language, int], ...]:
    captions = dict(items)
    registry = default_registry()
    try:
        if spec.layout == "ticker":  # the sizes TickerStrip draws with, without drawing the strip
            preps = [prepare(captions[lang].replace(_ZWSP, "").replace("\n", " "), lang, registry)
                     for lang in present(spec, captions)]
            return tuple((b.language, b.size) for b in fit_ticker(preps, spec.height - 2 * spec.margin, spec))
        if spec.layout == "rotate":
            out = {}
            for lang in present(spec, captions):
                layout = layout_slide(spec, captions, registry, has_image=has_image, language=lang)
                out.update({p.block.language: p.block.size for p in layout.blocks})
            return tuple(out.items())
        layout = layout_slide(spec, captions, registry, has_image=has_image)
        return tuple((p.block.language, p.block.size) for p in layout.blocks)
    except CaptionError:
        return ()


def check(spec: ScreenSpec, captions: Mapping[Language, str], *, pitch_mm: float, distance_m: float,
          duration_s: float | None, rules: Rules, has_image: bool) -> Verdict:
    """The readability of these captions (as the renderer gets them) on one screen."""
    shown = present(spec, captions)
    if not shown:
        return Verdict()
    sizes = font_sizes(spec, {lang: captions[lang] for lang in shown}, has_image=has_image)
    share = duration_s if duration_s is None or spec.layout == "stacked" else duration_s / len(shown)
    needed_mm = distance_m * rules.mm_per_m
    readings: list[Reading] = []
    problems: list[Problem] = []
    for lang in shown:
        count = words(captions[lang], lang)
        seconds = count / rules.words_per_s
        letter = CAP_HEIGHT * sizes[lang] * pitch_mm if lang in sizes else None
        readings.append(Reading(lang, count, seconds, share, letter, needed_mm))
        if letter is not None and letter < needed_mm:
            problems.append(ReadabilityProblem(
                ProblemCode.UNREADABLE_AT_DISTANCE, f"Letters about {letter:.0f} mm high cannot be read from "
                f"{distance_m:g} m (at least {needed_mm:.0f} mm needed).", lang,
                {"mm": round(letter), "distance": distance_m, "needed": round(needed_mm)}))
        if share is not None and seconds > share:
            problems.append(ReadabilityProblem(
                ProblemCode.TOO_LONG_TO_READ, f"{count} words take about {math.ceil(seconds)} s to read; "
                f"the screen shows them for {share:g} s.", lang,
                {"words": count, "needed": math.ceil(seconds), "shown": round(share, 1)}))
    return Verdict(readings, problems)
