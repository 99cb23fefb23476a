"""Golden images, reviewed by eye once: every layout at 768×384 and 1920×1080, and a 960×160 strip.

Regenerate after an intended visual change with SIGNAGE_UPDATE_GOLDEN=1, then look at them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from signage_core.languages import Language
from signage_core.render import ScreenSpec, Script, TickerStrip, default_registry, render_slide
from signage_server.typesetting import with_break_marks
from tests.core.test_render_text import CAPTIONS, KHMER_WORDS

GOLDEN = Path(__file__).parent / "golden"
VI, EN, KM = Language.VI, Language.EN, Language.KM


def _captions(caption_id: str) -> dict[Language, str]:
    c = next(c for c in CAPTIONS if c["id"] == caption_id)
    # As the server ships them: Vietnamese with its word joins, Khmer with ICU's break hints.
    return {lang: with_break_marks(lang, c[lang.value]) for lang in (VI, EN, KM)}


def _picture(size: tuple[int, int]) -> Image.Image:
    """A flat, deterministic 'photo' (sky, hills, road) that compresses to a few hundred bytes."""
    w, h = size
    img = Image.new("RGB", size, (70, 130, 200))
    draw = ImageDraw.Draw(img)
    draw.polygon([(0, h * 2 // 3), (w // 3, h // 3), (w * 2 // 3, h * 2 // 3)], fill=(40, 120, 60))
    draw.rectangle([0, h * 2 // 3, w, h], fill=(90, 90, 90))
    return img


def _khmer_words() -> Image.Image:
    face = default_registry().chains[Script.KHMER][0].at(40)
    img = Image.new("RGB", (720, 200))
    draw = ImageDraw.Draw(img)
    x, y = 10, 60
    for word in KHMER_WORDS:
        width = face.getlength(word, language="km")
        if x + width > 710:
            x, y = 10, y + 90
        draw.text((x, y), word, font=face, fill="white", anchor="ls", language="km")
        x += int(width) + 24
    return img


CASES: dict[str, Callable[[], Image.Image]] = {
    "stacked-768x384-fill": lambda: render_slide(
        ScreenSpec(width=768, height=384), _captions("welcome-vn"), _picture((1024, 640))
    ),
    "stacked-1920x1080": lambda: render_slide(
        ScreenSpec(width=1920, height=1080), _captions("traffic-law")
    ),
    "stacked-1920x1080-beside": lambda: render_slide(
        ScreenSpec(width=1920, height=1080, image_mode="beside"),
        _captions("hoa-lu-gate"),
        _picture((800, 800)),
    ),
    "rotate-768x384-km": lambda: render_slide(
        ScreenSpec(width=768, height=384, layout="rotate"), _captions("friendship"), language=KM
    ),
    "rotate-1920x1080-vi": lambda: render_slide(
        ScreenSpec(width=1920, height=1080, layout="rotate"), _captions("investment"), language=VI
    ),
    "ticker-768x384": lambda: TickerStrip(
        ScreenSpec(width=768, height=384, layout="ticker"), _captions("welcome-vn")
    ).frame(700),
    "ticker-1920x1080": lambda: TickerStrip(
        ScreenSpec(width=1920, height=1080, layout="ticker"), _captions("welcome-vn")
    ).frame(1800),
    "ticker-960x160-start": lambda: TickerStrip(
        ScreenSpec(width=960, height=160, layout="ticker"), _captions("hoang-dieu-gate")
    ).frame(900),
    "ticker-960x160-khmer": lambda: _ticker_at_khmer(),
    "khmer-clusters": _khmer_words,
}


def _ticker_at_khmer() -> Image.Image:
    strip = TickerStrip(
        ScreenSpec(width=960, height=160, layout="ticker"), _captions("hoang-dieu-gate")
    )
    return strip.frame(strip.period - 960)  # the end of the text: the Khmer caption


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_the_reviewed_golden(name: str) -> None:
    image = CASES[name]()
    path = GOLDEN / f"{name}.png"
    if os.environ.get("SIGNAGE_UPDATE_GOLDEN") == "1":
        r, g, b = image.split()
        grey = r.tobytes() == g.tobytes() == b.tobytes()
        # White-on-black frames lose nothing as greyscale and take a third of the space.
        (r if grey else image).save(path, optimize=True)
    golden = Image.open(path).convert("RGB")
    assert image.size == golden.size and image.mode == "RGB"
    if image.tobytes() == golden.tobytes():
        return
    # Another FreeType build may move a few edge pixels; a layout change moves thousands.
    diff = ImageChops.difference(image, golden).convert("L").point(lambda v: 255 if v > 48 else 0)
    changed = sum(diff.histogram()[255:])
    assert changed <= 0.001 * image.width * image.height, (
        f"{changed} pixels differ from {path.name}"
    )
