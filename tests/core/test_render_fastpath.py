"""The renderer's shortcuts give exactly what the plain, slower way gives: same lines, same pixels."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from signage_core.languages import Language
from signage_core.render import ScreenSpec, clear_caches, default_registry, render_slide
from signage_core.render import draw as draw_module
from signage_core.render.fonts import Script
from signage_core.render.layout import Line, _wrap, prepare
from tests.core.test_render_layout import PROPERTY, TRAFFIC, khmer, trio, vietnamese

REGISTRY = default_registry()
_TEXTS = st.one_of(
    st.tuples(st.just(Language.VI), vietnamese),
    st.tuples(st.just(Language.EN), vietnamese),
    st.tuples(st.just(Language.KM), khmer),
)


def _same(a: list[Line] | None, b: list[Line] | None) -> bool:
    if a is None or b is None:
        return a is b
    return [(x.text, x.width, x.consumed, x.left) for x in a] == [
        (x.text, x.width, x.consumed, x.left) for x in b
    ]


def _breaks(lines: list[Line] | None) -> list[tuple[str, str]] | None:
    return None if lines is None else [(x.text, x.consumed) for x in lines]


@PROPERTY
@given(
    lang_text=_TEXTS,
    width=st.integers(40, 1900),
    size=st.integers(14, 260),
    split=st.booleans(),
)
def test_wrapping_on_the_ink_bound_breaks_exactly_like_measuring_every_candidate(
    lang_text: tuple[Language, str], width: int, size: int, split: bool
) -> None:
    language, text = lang_text
    prep = prepare(text, language, REGISTRY)
    fast = _wrap(prep, size, width, split, float("inf"), bounded=True, widths=True)
    exact = _wrap(prep, size, width, split, float("inf"), bounded=False, widths=True)
    assert _same(fast, exact)
    # A fit probe skips widths but must break at exactly the same places.
    probe = _wrap(prep, size, width, split, float("inf"), bounded=True, widths=False)
    assert _breaks(probe) == _breaks(exact)


def test_corpus_captions_wrap_identically_at_every_size_on_the_bound() -> None:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "captions.json"
    if not path.is_file():
        path = Path("/work/shared/corpus/captions.json")
    captions = json.loads(path.read_text(encoding="utf-8"))["captions"]
    checked = 0
    for caption in captions:
        for language in (Language.VI, Language.EN, Language.KM):
            if not caption.get(language.value):
                continue
            prep = prepare(caption[language.value], language, REGISTRY)
            for size in range(14, 200, 7):
                for width in (300, 744, 1856):
                    fast = _wrap(prep, size, width, True, math.inf, bounded=True, widths=True)
                    exact = _wrap(prep, size, width, True, math.inf, bounded=False, widths=True)
                    probe = _wrap(prep, size, width, True, math.inf, bounded=True, widths=False)
                    assert _same(fast, exact), (caption["id"], language, size, width)
                    assert _breaks(probe) == _breaks(exact), (caption["id"], language, size)
                    checked += 1
    assert checked > 500


@PROPERTY
@given(lang_text=_TEXTS, size=st.integers(14, 200))
def test_single_font_line_mask_is_what_imagedraw_text_draws(
    lang_text: tuple[Language, str], size: int
) -> None:
    language, text = lang_text
    script = Script.KHMER if language is Language.KM else Script.LATIN
    face = REGISTRY.chains[script][0]
    text = text.replace("\u200b", "")
    mask, left, top = draw_module._line_mask(((face, text),), size, language.value)
    # The plain way: ImageDraw.text into an empty L image sized to the text's box.
    font = face.at(size)
    x0, y0, x1, y1 = font.getbbox(text, anchor="ls", language=language.value)
    plain = Image.new("L", (max(x1 - x0, 1), max(y1 - y0, 1)))
    ImageDraw.Draw(plain).text(
        (-x0, -y0), text, font=font, fill=255, anchor="ls", language=language.value
    )
    assert (left, top) == (x0, y0)
    assert mask.size == plain.size
    assert mask.tobytes() == plain.tobytes()


def test_pasting_a_solid_picture_blends_exactly_like_filling_a_colour() -> None:
    mask = Image.new("L", (256, 256))
    mask.putdata([x for _y in range(256) for x in range(256)])
    background = Image.new("RGB", (256, 256))
    background.putdata([(y, 255 - y, (7 * x + y) % 256) for y in range(256) for x in range(256)])
    for colour in ((255, 255, 255), (255, 191, 0), (0, 0, 0), (17, 130, 250)):
        filled = background.copy()
        filled.paste(colour, (0, 0), mask)
        pasted = background.copy()
        pasted.paste(Image.new("RGB", mask.size, colour), (0, 0), mask)
        assert pasted.tobytes() == filled.tobytes(), colour


def test_first_and_repeat_showing_of_a_slide_are_the_same_pixels() -> None:
    spec = ScreenSpec(width=1920, height=1080, image_mode="fill")
    picture = Image.linear_gradient("L").resize((1920, 1080)).convert("RGB")
    clear_caches()
    first = render_slide(spec, trio(TRAFFIC), picture)
    again = render_slide(spec, trio(TRAFFIC), picture)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != picture.tobytes()
