"""Renderer benchmark: stacked slide composition and ticker frames (cached strip vs naive).

Run: .venv/bin/python benchmarks/render.py  (prints the figures recorded in docs/benchmarks.md)
     .venv/bin/python benchmarks/render.py --baseline DIR  (also times the first showing with
     the renderer of another checkout, e.g. `git archive main | tar -x -C DIR`, in alternating
     rounds of the same run, so a busy shared machine slows both sides alike)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import PIL
from PIL import Image, ImageDraw, features

from signage_core.languages import Language
from signage_core.render import ScreenSpec, TickerStrip, default_registry, render_slide
from signage_core.render import draw as draw_module
from signage_core.render import layout as layout_module

ROOT = Path(__file__).resolve().parents[1]


_CAPTIONS_ENV = "SIGNAGE_BENCH_CAPTIONS"  # the captions a --baseline child lays out, as JSON


def _corpus() -> dict[Language, str]:
    """The captions as the server ships them: Vietnamese word joins, Khmer break hints.

    A --baseline child gets them from its parent, as an older checkout may not compute them.
    """
    if os.environ.get(_CAPTIONS_ENV):
        return {Language(k): v for k, v in json.loads(os.environ[_CAPTIONS_ENV]).items()}
    from signage_server.typesetting import with_break_marks  # server extra: the compiler's marks

    for folder in (ROOT.parent / "shared", ROOT.parents[1] / "shared", Path("/work/shared")):
        path = folder / "corpus" / "captions.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            c = next(c for c in data["captions"] if c["id"] == "traffic-law")
            return {lang: with_break_marks(lang, c[lang.value]) for lang in Language if lang.value in c}
    raise SystemExit("shared/corpus/captions.json not found")


def _photo(size: tuple[int, int]) -> Image.Image:
    """A photo-sized picture with real detail (gradients + noise), so resizing costs what it would."""
    w, h = size
    gradient = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 40)
    return Image.merge(
        "RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    )


def _clear_caches() -> None:
    """Forget everything but the loaded fonts: the first showing of a new slide.

    Every memoised function of the layout module, found by name so an older checkout's
    renderer (--baseline) is measured the same way.
    """
    for name in dir(layout_module):
        clear = getattr(getattr(layout_module, name), "cache_clear", None)
        if callable(clear):
            clear()
    draw_module.clear_caches()


def _median_ms(
    fn: Callable[[], object], runs: int, before: Callable[[], None] | None = None
) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_stacked(captions: dict[Language, str]) -> None:
    photo = _photo((2400, 1600))
    print("## stacked trilingual slide, background image (fill), median ms of 30")
    print("repeat: layout, line masks and picture cached (the slide shown again)")
    print("first: all caches cleared but the fonts (fit search, rasterising, dimming)")
    print(f"{'screen':>10}  {'repeat':>7}  {'first':>7}  {'first, 2400x1600 photo':>22}")
    for w, h in ((768, 384), (1920, 1080)):
        spec = ScreenSpec(width=w, height=h, image_mode="fill")
        sized = photo.resize((w, h))
        render_slide(spec, captions, sized)  # fonts loaded at the sizes this slide uses
        repeat = _median_ms(lambda spec=spec, s=sized: render_slide(spec, captions, s), 30)
        first = _median_ms(
            lambda spec=spec, s=sized: render_slide(spec, captions, s), 30, _clear_caches
        )
        raw = _median_ms(lambda spec=spec: render_slide(spec, captions, photo), 10, _clear_caches)
        print(f"{w}x{h:<5}  {repeat:7.1f}  {first:7.1f}  {raw:22.1f}")


def first_showing(w: int, h: int, runs: int) -> list[tuple[float, float]]:
    """Wall and CPU ms of each first showing (caches cleared, fonts loaded) of the stacked slide.

    CPU time is what a busy shared machine disturbs least: it leaves out the time this process
    waited for a core.
    """
    captions = _corpus()
    spec = ScreenSpec(width=w, height=h, image_mode="fill")
    sized = _photo((2400, 1600)).resize((w, h))
    render_slide(spec, captions, sized)  # fonts loaded at the sizes this slide uses
    times = []
    for _ in range(runs):
        _clear_caches()
        start, cpu = time.perf_counter(), time.process_time()
        render_slide(spec, captions, sized)
        times.append(((time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000))
    return times


def bench_against(baseline: Path, rounds: int = 6, runs: int = 10) -> None:
    """First showing, this checkout vs `baseline`, in alternating rounds of one run."""
    captions = json.dumps({lang.value: text for lang, text in _corpus().items()})
    env = {**os.environ, "PYTHONPATH": str(baseline.resolve()), _CAPTIONS_ENV: captions}
    print(f"\n## first showing, this checkout vs {baseline} (alternating rounds, median ms)")
    print(f"{'':>10}  {'wall ms':-^26}  {'CPU ms':-^26}")
    print(f"{'screen':>10}" + f"  {'baseline':>8}  {'this':>7}  {'change':>7}" * 2)
    for w, h in ((768, 384), (1920, 1080)):
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        for _ in range(rounds):
            ours += first_showing(w, h, runs)
            out = subprocess.run(  # our own interpreter and script, no shell
                [sys.executable, __file__, "--first-only", f"{w}x{h}", "--runs", str(runs)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            theirs += [(wall, cpu) for wall, cpu in json.loads(out)]
        row = f"{w}x{h:<5}"
        for i in (0, 1):
            a = statistics.median(t[i] for t in theirs)
            b = statistics.median(t[i] for t in ours)
            row += f"  {a:8.1f}  {b:7.1f}  {100 * (b - a) / a:+6.0f}%"
        print(row)


def bench_ticker(captions: dict[Language, str]) -> None:
    spec = ScreenSpec(width=960, height=160, layout="ticker")
    registry = default_registry()
    start = time.perf_counter()
    strip = TickerStrip(spec, captions, registry=registry)
    build_ms = (time.perf_counter() - start) * 1000
    frames = 3000

    def cached(offset: int) -> Image.Image:
        return strip.frame(offset)

    # The naive way: lay out and shape the whole text again for every frame.
    sizes = strip.sizes()
    sep = spec.ticker_separator

    def naive(offset: int) -> Image.Image:
        canvas = Image.new("RGB", (spec.width, spec.height), spec.background)
        draw = ImageDraw.Draw(canvas)
        x = spec.width - offset % strip.period
        for i, lang in enumerate(strip.sizes()):
            if i:
                font = registry.chains[layout_module.Script.LATIN][0].at(min(sizes.values()))
                draw.text((x, 110), sep, font=font, fill=spec.text_colour, anchor="ls")
                x += font.getlength(sep)
            chain = layout_module.HOME_SCRIPT[lang]
            font = registry.chains[chain][0].at(sizes[lang])
            text = captions[lang].replace("\u200b", "")
            draw.text(
                (x, 110), text, font=font, fill=spec.text_colour, anchor="ls", language=lang.value
            )
            x += font.getlength(text, language=lang.value)
        return canvas

    print("\n## ticker 960x160, 2 px per frame: crop of the cached strip vs shaping every frame")
    print(f"strip: {strip.strip_width}x{spec.height} px, built once in {build_ms:.1f} ms")
    print(f"{'method':>14}  {'fps':>9}  {'ms/frame':>8}  {'CPU at 60 fps':>13}")
    results = {}
    for name, fn, n in (("cached strip", cached, frames), ("naive re-lay", naive, frames // 10)):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(n):
            fn(2 * i)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        fps = n / wall
        results[name] = fps
        print(f"{name:>14}  {fps:9.0f}  {1000 * wall / n:8.3f}  {100 * 60 * cpu / n:12.1f}%")
    print(f"speed-up: {results['cached strip'] / results['naive re-lay']:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout's root to compare with")
    parser.add_argument("--first-only", help=argparse.SUPPRESS)  # WxH: JSON of first showings
    parser.add_argument("--runs", type=int, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_only:
        w, h = (int(v) for v in args.first_only.split("x"))
        print(json.dumps(first_showing(w, h, args.runs)))
        return
    print(
        f"# signage renderer benchmark: Python {platform.python_version()}, Pillow {PIL.__version__}, "
        f"raqm {features.version('raqm')}, {os.cpu_count()} CPUs"
    )
    captions = _corpus()
    bench_stacked(captions)
    if args.baseline:
        bench_against(args.baseline)
    bench_ticker(captions)


if __name__ == "__main__":
    main()
