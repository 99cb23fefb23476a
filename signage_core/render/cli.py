"""`signage-render`: draw a slide from the command line, or print its layout as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from signage_core.languages import Language, ordered, parse_language
from signage_core.render.breaks import add_break_hints
from signage_core.render.draw import TickerStrip, background, draw_layout, frame_hash
from signage_core.render.errors import CaptionError, RenderError
from signage_core.render.fonts import FontRegistry, default_registry
from signage_core.render.layout import Block, layout_slide
from signage_core.render.spec import ScreenSpec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="signage-render", description=__doc__)
    p.add_argument("--size", required=True, help="native screen pixels, e.g. 768x384")
    p.add_argument("--layout", choices=["stacked", "rotate", "ticker"], default="stacked")
    p.add_argument(
        "--caption", action="append", default=[], metavar="LANG=TEXT",
        help="a caption in any configured language, e.g. th=TEXT (repeatable)",
    )
    for short in (Language.VI, Language.EN, Language.KM):
        p.add_argument(f"--{short.value}", metavar="TEXT", help=f"--caption {short.value}=TEXT")
    p.add_argument("--image", type=Path, help="slide image (background or beside the text)")
    p.add_argument("--image-mode", choices=["fill", "fit", "letterbox", "beside"], default="fill")
    p.add_argument("--ratio", type=float, default=0.75, help="foreign size / Vietnamese size")
    p.add_argument("--language", help="rotate: which language's frame to draw")
    p.add_argument("--offset", type=int, help="ticker: scroll offset in pixels of the frame")
    p.add_argument(
        "--fonts", type=Path, help="folder holding fonts.toml (default: the repo's fonts/)"
    )
    p.add_argument(
        "--hints", "--khmer-hints", action="store_true",
        help="insert each language's break hints (languages.toml) as the server does",
    )
    p.add_argument("-o", "--output", type=Path, help="PNG to write")
    p.add_argument("--json", action="store_true", help="print fonts, sizes and lines as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit 2 for captions that cannot be shown, 3 for an unusable renderer."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.output is None and not args.json:
        parser.error("nothing to do: give -o OUT.png and/or --json")
    try:
        captions = _captions(args)
        width, height = ScreenSpec.parse_size(args.size)
        spec = ScreenSpec(
            width=width,
            height=height,
            layout=args.layout,
            foreign_ratio=args.ratio,
            image_mode=args.image_mode,
            **({"languages": tuple(ordered(list(captions)))} if captions else {}),
        )
        language = parse_language(args.language) if args.language else None
    except ValueError as exc:
        parser.error(str(exc))
    image = _open_image(parser, args.image)
    try:
        registry = (
            FontRegistry.from_toml(args.fonts / "fonts.toml") if args.fonts else default_registry()
        )
        if args.hints:
            captions = {lang: add_break_hints(lang, text) for lang, text in captions.items()}
        frame, report = _render(spec, captions, image, language, args.offset, registry)
    except CaptionError as exc:
        for problem in exc.problems:
            print(
                f"{problem.language.value}: {problem.code.value}: {problem.message}",
                file=sys.stderr,
            )
        return 2
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    report["frame_hash"] = frame_hash(frame)
    if args.output is not None:
        _save_atomically(frame, args.output)
        report["output"] = str(args.output)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def _captions(args: argparse.Namespace) -> dict[Language, str]:
    """--caption LANG=TEXT and the --vi/--en/--km shorthands; a language given twice is refused."""
    pairs = [(short.value, getattr(args, short.value))
             for short in (Language.VI, Language.EN, Language.KM) if getattr(args, short.value)]
    for item in args.caption:
        code, equals, text = item.partition("=")
        if not equals:
            raise ValueError(f"--caption {item!r}: expected LANG=TEXT, e.g. th=สวัสดี")
        pairs.append((code.strip(), text))
    captions: dict[Language, str] = {}
    for code, text in pairs:
        lang = parse_language(code)
        if lang in captions:
            raise ValueError(f"the {code} caption is given twice")
        captions[lang] = text
    return captions


def _open_image(parser: argparse.ArgumentParser, path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        parser.error(f"cannot read image {path}: {exc}")


def _render(
    spec: ScreenSpec,
    captions: dict[Language, str],
    image: Image.Image | None,
    language: Language | None,
    offset: int | None,
    registry: FontRegistry,
) -> tuple[Image.Image, dict[str, object]]:
    report: dict[str, object] = {"size": [spec.width, spec.height], "layout": spec.layout}
    if spec.layout == "ticker":
        strip = TickerStrip(spec, captions, registry=registry)
        report["strip_width"] = strip.strip_width
        report["period"] = strip.period
        report["languages"] = [_describe(b) for b in strip.blocks]
        return strip.frame(spec.width - spec.margin if offset is None else offset), report
    layout = layout_slide(spec, captions, registry, has_image=image is not None, language=language)
    canvas = background(spec, image, layout.image_box)
    draw_layout(canvas, layout)
    report["text_box"] = [layout.box.left, layout.box.top, layout.box.width, layout.box.height]
    report["languages"] = [_describe(placed.block) for placed in layout.blocks]
    return canvas, report


def _describe(block: Block) -> dict[str, object]:
    faces = block.prepared.faces
    return {
        "language": block.language.value,
        "font": faces[0].path.name,
        "fonts": [face.path.name for face in faces],
        "size_px": block.size,
        "line_height_px": block.pitch,
        "lines": [line.text for line in block.lines],
        "breaks_inside_words": block.breaks_inside_words,
    }


def _save_atomically(image: Image.Image, path: Path) -> None:
    """Write temp + fsync + rename so a crash never leaves a half-written PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, format="PNG")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
