"""One frame from several zones: the main slide, the information strip and the ticker, pasted in place."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from signage_core.languages import Language
from signage_core.render.draw import draw_pieces
from signage_core.render.fonts import FontRegistry, default_registry
from signage_core.render.layout import Prepared, largest_size, measure, prepare, vertical
from signage_core.render.spec import RGB
from signage_core.zones import Rect, ZoneRects

STRIP_BACKGROUND: RGB = (0, 40, 90)  # a dark blue band: the strip reads as separate from the slides
STRIP_GAP_EM = 1.2  # space between two widgets on a bottom strip, in font sizes
STRIP_SIDE_MARGIN = 0.02  # a bottom strip's left and right margins, as a share of its width


def draw_strip(rect: Rect, texts: Sequence[str], *, vertical_layout: bool, registry: FontRegistry | None = None,
               background: RGB = STRIP_BACKGROUND, colour: RGB = (255, 255, 255)) -> Image.Image:
    """The strip's widgets, as large as fit: one row on a bottom strip, one per line on a side strip.

    The texts are Vietnamese (numbers, units, 'Âm lịch'); when a row cannot hold them all at a legible size
    the last ones are left out rather than drawn too small.
    """
    registry = registry or default_registry()
    image = Image.new("RGB", (rect.width, rect.height), background)
    preps = [prepare(text, Language.VI, registry) for text in texts]
    if not preps:
        return image
    pad = max(2, rect.height // 10 if not vertical_layout else rect.width // 20)
    least = max(p.min_px for p in preps)
    draw = ImageDraw.Draw(image)
    if vertical_layout:
        return _draw_column(image, texts, registry, pad, least, colour)
    # LED cabinets crop their outer pixels: the first and last widget keep off the edges as the slides
    # do (their margin is 4 % of the screen's shorter side; 2 % of the strip's width is about that).
    side = max(pad, round(STRIP_SIDE_MARGIN * rect.width))
    while preps:
        def fits(s: int, preps: list[Prepared] = preps) -> bool:
            width = sum(measure(p.pieces, s, Language.VI) for p in preps) + STRIP_GAP_EM * s * (len(preps) - 1)
            return width <= rect.width - 2 * side and _tall(preps, s) <= rect.height - 2 * pad
        size = largest_size(least, rect.height, fits)
        if size is not None:
            break
        preps.pop()
    else:
        return image
    ascent = max(vertical(p, size)[0] for p in preps)
    descent = max(vertical(p, size)[1] for p in preps)
    baseline = (rect.height - ascent - descent) // 2 + ascent
    widths = [measure(p.pieces, size, Language.VI) for p in preps]
    gap = (rect.width - 2 * side - sum(widths)) / max(len(preps) - 1, 1) if len(preps) > 1 else 0
    x = float(side) if len(preps) > 1 else (rect.width - widths[0]) / 2
    for prep, width in zip(preps, widths, strict=True):
        draw_pieces(draw, prep.pieces, size, Language.VI, round(x), baseline, colour)
        x += width + gap
    return image


def _draw_column(image: Image.Image, texts: Sequence[str], registry: FontRegistry, pad: int, least: int,
                 colour: RGB) -> Image.Image:
    """A side strip: one widget a line; one too wide for the strip at a legible size breaks at its middle space
    ("Thứ Năm" / "03/12/2026"), and lines the strip cannot hold are left out from the end."""
    width, height = image.width - 2 * pad, image.height - 2 * pad
    lines: list[Prepared] = []
    for text in texts:
        prep = prepare(text, Language.VI, registry)
        if measure(prep.pieces, least, Language.VI) > width and " " in text:
            words = text.split(" ")
            cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(text) / 2))
            lines += [prepare(" ".join(words[:cut]), Language.VI, registry),
                      prepare(" ".join(words[cut:]), Language.VI, registry)]
        else:
            lines.append(prep)
    while lines:
        rows = len(lines)

        def fits(s: int, lines: list[Prepared] = lines, rows: int = rows) -> bool:
            return (all(measure(p.pieces, s, Language.VI) <= width for p in lines)
                    and _tall(lines, s) * rows <= height)

        size = largest_size(least, height // rows, fits)
        if size is not None:
            break
        lines.pop()
    else:
        return image
    draw = ImageDraw.Draw(image)
    pitch = height // len(lines)
    ascent = max(vertical(p, size)[0] for p in lines)
    descent = max(vertical(p, size)[1] for p in lines)
    for i, prep in enumerate(lines):
        baseline = pad + i * pitch + (pitch - ascent - descent) // 2 + ascent
        x = (image.width - measure(prep.pieces, size, Language.VI)) / 2
        draw_pieces(draw, prep.pieces, size, Language.VI, round(x), baseline, colour)
    return image


def _tall(preps: Sequence[Prepared], size: int) -> int:
    heights = [vertical(p, size) for p in preps]
    return max(a for a, _ in heights) + max(d for _, d in heights)


def compose(size: tuple[int, int], rects: ZoneRects, main: Image.Image, strip: Image.Image | None,
            ticker: Image.Image | None) -> Image.Image:
    """The screen: each zone's picture pasted at its rectangle (what the preview shows and the player outputs)."""
    frame = Image.new("RGB", size, (0, 0, 0))
    paste_zones(frame, rects, main, strip, ticker)
    return frame


def paste_zones(frame: Image.Image, rects: ZoneRects, main: Image.Image | None, strip: Image.Image | None,
                ticker: Image.Image | None) -> None:
    for rect, picture in ((rects.main, main), (rects.strip, strip), (rects.ticker, ticker)):
        if rect is not None and picture is not None:
            if picture.size != (rect.width, rect.height):
                raise ValueError(f"zone picture is {picture.size}, its zone {rect.width}×{rect.height}")
            frame.paste(picture, (rect.left, rect.top))
