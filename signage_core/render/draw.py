"""Pixels: slides, rotate frames and the ticker strip, identical bytes for identical inputs."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageOps

from signage_core.languages import Language
from signage_core.render.cache import ByteCache
from signage_core.render.errors import CaptionError, Problem, ProblemCode
from signage_core.render.fonts import FontFace, FontRegistry, default_registry
from signage_core.render.layout import (
    LANGUAGE_NAMES,
    Block,
    Box,
    Piece,
    PlacedLine,
    Prepared,
    SlideLayout,
    block_at,
    check_glyphs,
    language_tag,
    layout_slide,
    measure,
    prepare,
    present,
    runs,
    scaled,
    size_factors,
    smallest_primary,
)
from signage_core.render.spec import ScreenSpec
from signage_core.text import ZWSP

_RESAMPLE = Image.Resampling.BILINEAR


def frame_hash(image: Image.Image) -> str:
    """Hex SHA-256 of the exact RGB bytes on screen: the proof-of-play fingerprint."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return hashlib.sha256(rgb.tobytes()).hexdigest()


def render_slide(
    spec: ScreenSpec,
    captions: Mapping[Language, str],
    image: Image.Image | None = None,
    *,
    language: Language | None = None,
    registry: FontRegistry | None = None,
) -> Image.Image:
    """The slide as the LED shows it: RGB, exactly spec.width × spec.height.

    For `rotate`, `language` picks the frame (default: the first language with a caption);
    for `ticker`, the frame with the text start at the left margin (a preview).
    """
    registry = registry or default_registry()
    if spec.layout == "ticker":
        strip = TickerStrip(spec, captions, registry=registry)
        return strip.frame(spec.width - spec.margin)
    layout = layout_slide(spec, captions, registry, has_image=image is not None, language=language)
    canvas = _cached_background(spec, image, layout.image_box)
    draw_layout(canvas, layout)
    return canvas


# Scaled, dimmed pictures by source identity: a player shows the same slide image for months.
# Callers must not change a PIL image in place after handing it to the renderer.
_BACKGROUNDS: ByteCache[tuple[Image.Image, Image.Image]] = ByteCache(64 * 1024 * 1024)
# Rasterised lines, so a slide shown again costs a paste per line, not a glyph rendering.
_MASKS: ByteCache[tuple[Image.Image, int, int]] = ByteCache(32 * 1024 * 1024)


def clear_caches() -> None:
    """Forget cached pictures and line masks (tests and benchmarks measure a first showing)."""
    _BACKGROUNDS.clear()
    _MASKS.clear()


def _cached_background(spec: ScreenSpec, image: Image.Image | None, box: Box | None) -> Image.Image:
    if image is None:
        return background(spec, None, box)
    key = (id(image), spec, box)
    hit = _BACKGROUNDS.get(key)
    if hit is not None and hit[0] is image:
        return hit[1].copy()
    prepared = background(spec, image, box)
    _BACKGROUNDS.put(key, (image, prepared), 3 * prepared.width * prepared.height)
    return prepared.copy()


def background(spec: ScreenSpec, image: Image.Image | None, image_box: Box | None) -> Image.Image:
    """The screen's background colour with the slide image placed and dimmed per image_mode."""
    size = (spec.width, spec.height)
    if image is None or image_box is None:
        return Image.new("RGB", size, spec.background)
    source = image.convert("RGB") if image.mode != "RGB" else image
    if spec.image_mode == "beside":
        canvas = Image.new("RGB", size, spec.background)
        inner = ImageOps.contain(source, (image_box.width, image_box.height), _RESAMPLE)
        canvas.paste(
            inner,
            (
                image_box.left + (image_box.width - inner.width) // 2,
                image_box.top + (image_box.height - inner.height) // 2,
            ),
        )
        return canvas
    if spec.image_mode == "fill":
        cover = source if source.size == size else ImageOps.fit(source, size, _RESAMPLE)
        return _dim(cover, spec.image_dim)
    # fit: bars in the screen's background colour; letterbox: black bars (LED pixels off).
    bars = spec.background if spec.image_mode == "fit" else (0, 0, 0)
    canvas = Image.new("RGB", size, bars)
    inner = source if source.size == size else ImageOps.contain(source, size, _RESAMPLE)
    canvas.paste(
        _dim(inner, spec.image_dim), ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2)
    )
    return canvas


def _dim(image: Image.Image, amount: float) -> Image.Image:
    """Darken a picture under text so white captions stay readable; always returns a new image."""
    if amount <= 0:
        return image.copy()
    keep = 1.0 - amount
    return image.point([round(v * keep) for v in range(256)] * 3)


def draw_layout(canvas: Image.Image, layout: SlideLayout) -> None:
    for placed in layout.blocks:
        for line in placed.lines:
            _draw_line(canvas, placed.block, line, layout.spec.text_colour)


def _draw_line(
    canvas: Image.Image, block: Block, line: PlacedLine, fill: tuple[int, int, int]
) -> None:
    tag = language_tag(block.language)
    key = (tuple(runs(line.line.pieces)), block.size, tag)
    cached = _MASKS.get(key)
    if cached is None:
        cached = _line_mask(*key)
        _MASKS.put(key, cached, cached[0].width * cached[0].height)
    mask, left, top = cached
    # Pasting a solid picture through the mask blends with the same formula as filling a colour
    # through it (every mask and background value checked), at about twice the speed in Pillow.
    solid = Image.new(canvas.mode, mask.size, fill)
    canvas.paste(solid, (line.x + left, line.baseline + top), mask)


def _line_mask(
    line_runs: tuple[tuple[FontFace, str], ...], size: int, tag: str
) -> tuple[Image.Image, int, int]:
    """A line's coverage mask and its offset from (pen, baseline): glyphs rasterised once.

    Pasting the text colour through it gives the same pixels as ImageDraw.text on the canvas.
    """
    if len(line_runs) == 1 and line_runs[0][1]:
        # One font at a whole-pixel pen: FreeType's own mask is exactly what ImageDraw.text
        # would blend into an empty L image, so skip the extra layouts, the blank image and the blit.
        face, text = line_runs[0]
        core, (left, top) = face.at(size).getmask2(text, "L", anchor="ls", language=tag)
        if core.size[0] > 0 and core.size[1] > 0:
            return Image.Image()._new(core), int(left), int(top)
    boxes = []
    pen = 0.0
    for face, text in line_runs:
        font = face.at(size)
        x0, y0, x1, y1 = font.getbbox(text, anchor="ls", language=tag)
        boxes.append((pen + x0, y0, pen + x1, y1))
        pen += font.getlength(text, language=tag)
    left = math.floor(min((b[0] for b in boxes), default=0))
    top = int(min((b[1] for b in boxes), default=0))
    right = math.ceil(max((b[2] for b in boxes), default=0))
    bottom = int(max((b[3] for b in boxes), default=0))
    mask = Image.new("L", (max(right - left, 1), max(bottom - top, 1)))
    draw = ImageDraw.Draw(mask)
    pen = 0.0
    for face, text in line_runs:
        font = face.at(size)
        draw.text((pen - left, -top), text, font=font, fill=255, anchor="ls", language=tag)
        pen += font.getlength(text, language=tag)
    return mask, left, top


def draw_pieces(
    draw: ImageDraw.ImageDraw,
    pieces: Sequence[Piece],
    size: int,
    language: Language,
    x: float,
    baseline: int,
    fill: tuple[int, int, int],
) -> float:
    """Draw runs left to right on one baseline; returns the x after the last run."""
    tag = language_tag(language)
    for face, text in runs(pieces):
        font = face.at(size)
        draw.text((x, baseline), text, font=font, fill=fill, anchor="ls", language=tag)
        x += font.getlength(text, language=tag)
    return x


class TickerStrip:
    """The "chữ chạy" strip: shaped and drawn once, each frame is a crop of it."""

    def __init__(
        self,
        spec: ScreenSpec,
        captions: Mapping[Language, str],
        *,
        registry: FontRegistry | None = None,
    ) -> None:
        registry = registry or default_registry()
        self.spec = spec
        languages = present(spec, captions)
        # One line: hints and line breaks become plain spacing.
        preps = [
            prepare(captions[lang].replace(ZWSP, "").replace("\n", " "), lang, registry)
            for lang in languages
        ]
        check_glyphs(preps)
        box_h = spec.height - 2 * spec.margin
        self.blocks = fit_ticker(preps, box_h, spec)
        separator = self.spec.ticker_separator
        self._separator = (
            prepare(separator, Language.EN, registry)
            if separator.strip() and len(self.blocks) > 1
            else None
        )
        width = spec.width
        ascent = max(b.ascent for b in self.blocks) if self.blocks else 0
        descent = max(b.descent for b in self.blocks) if self.blocks else 0
        baseline = spec.margin + (box_h - ascent - descent) // 2 + ascent
        sep_size = min((b.size for b in self.blocks), default=0)
        widths = [round(measure(b.lines[0].pieces, b.size, b.language)) for b in self.blocks]
        sep_w = (
            round(measure(self._separator.pieces, sep_size, Language.EN)) if self._separator else 0
        )
        self.text_width = sum(widths) + sep_w * max(len(self.blocks) - 1, 0)
        # Blank screen-width lead-in and tail: text enters at the right edge and leaves at the left.
        self.period = width + self.text_width
        self.image = Image.new("RGB", (self.period + width, spec.height), spec.background)
        draw = ImageDraw.Draw(self.image)
        x = width
        for i, block in enumerate(self.blocks):
            if i and self._separator is not None:
                draw_pieces(
                    draw,
                    self._separator.pieces,
                    sep_size,
                    Language.EN,
                    x,
                    baseline,
                    spec.text_colour,
                )
                x += sep_w
            draw_pieces(
                draw,
                block.lines[0].pieces,
                block.size,
                block.language,
                x,
                baseline,
                spec.text_colour,
            )
            x += widths[i]

    @property
    def strip_width(self) -> int:
        return self.image.width

    def frame(self, offset_px: int) -> Image.Image:
        """The screen after scrolling `offset_px` pixels; wraps every `period` pixels."""
        x = offset_px % self.period
        return self.image.crop((x, 0, x + self.spec.width, self.spec.height))

    def sizes(self) -> dict[Language, int]:
        return {b.language: b.size for b in self.blocks}


def fit_ticker(preps: Sequence[Prepared], box_h: int, spec: ScreenSpec) -> list[Block]:
    """Largest one-line sizes whose tallest font fits the strip height, foreign at the ratio."""
    if not preps:
        return []
    factors = size_factors([p.language for p in preps], spec.foreign_ratio)
    lo = smallest_primary(preps, factors)
    unlimited = float("inf")

    def blocks(s: int) -> list[Block]:
        out = []
        for prep, f in zip(preps, factors, strict=True):
            block = block_at(prep, scaled(s, f), unlimited)
            assert block is not None  # noqa: S101 - an unlimited width always fits
            out.append(block)
        return out

    def ok(s: int) -> bool:
        bs = blocks(s)
        return max(b.ascent for b in bs) + max(b.descent for b in bs) <= box_h

    if not ok(lo):
        problems = [
            Problem(
                ProblemCode.TOO_SMALL,
                f"The {spec.size_label} ticker is too low to show "
                f"{LANGUAGE_NAMES[p.language]} at its smallest legible size ({scaled(lo, f)} px).",
                p.language,
            )
            for p, f in zip(preps, factors, strict=True)
        ]
        raise CaptionError(problems)
    best = lo
    hi = box_h
    while best < hi:
        mid = (best + hi + 1) // 2
        if ok(mid):
            best = mid
        else:
            hi = mid - 1
    return blocks(best)
