"""Khmer shaping is real HarfBuzz shaping: subscripts stack, and our runs draw what raqm draws."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from signage_core.languages import Language
from signage_core.render import ScreenSpec, Script, default_registry, layout_slide, render_slide
from signage_core.render.segment import COENG
from tests.core.test_render_text import CAPTIONS, KHMER_WORDS


def _fonts(size: int) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    path = str(default_registry().chains[Script.KHMER][0].path)
    raqm = ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.RAQM)
    basic = ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
    return raqm, basic


@pytest.mark.parametrize("word", [w for w in KHMER_WORDS if COENG in w])
def test_coeng_words_shape_narrower_than_the_basic_engine(word: str) -> None:
    raqm, basic = _fonts(48)
    # Basic layout draws COENG and the full consonant side by side; HarfBuzz stacks them.
    assert raqm.getlength(word) < basic.getlength(word) - 1


@pytest.mark.parametrize("base", ["ស", "ខ", "ក", "ម"])
def test_a_subscript_consonant_adds_no_width_and_hangs_below(base: str) -> None:
    raqm, basic = _fonts(48)
    syllable = base + COENG + "ត"
    assert abs(raqm.getlength(syllable) - raqm.getlength(base)) <= 1
    assert basic.getlength(syllable) > raqm.getlength(base) + 20
    # the subscript is drawn under the base: ink reaches further below the baseline
    assert raqm.getbbox(syllable, anchor="ls")[3] > raqm.getbbox(base, anchor="ls")[3] + 5


@pytest.mark.parametrize("caption", CAPTIONS, ids=lambda c: c["id"])
def test_renderer_pixels_equal_harfbuzz_shaping_of_each_whole_line(caption: dict[str, str]) -> None:
    spec = ScreenSpec(width=1920, height=400, languages=(Language.KM,), margin_px=10)
    captions = {Language.KM: caption["km"]}
    (placed,) = layout_slide(spec, captions, default_registry()).blocks
    font = default_registry().chains[Script.KHMER][0].at(placed.block.size)
    expected = Image.new("RGB", (spec.width, spec.height))
    draw = ImageDraw.Draw(expected)
    for line in placed.lines:
        draw.text(
            (line.x, line.baseline),
            line.line.text,
            font=font,
            fill="white",
            anchor="ls",
            language="km",
        )
    assert render_slide(spec, captions).tobytes() == expected.tobytes()
