"""Steady-state RSS and CPU of `signage-player run` (null output) against a naive polling re-renderer.

Run: .venv/bin/python benchmarks/player.py [--seconds 15] [--dimming-only]
Each case runs in its own process, offline (broker unreachable), from a signed manifest on disk.
First, the cost per frame of software dimming (issue 22) beside ImageEnhance.Brightness, measured
in the same run; then the player cases, the "dimmed" ones with a brightness override at 40 %.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from player_agent.agent import MANIFEST_FILE  # noqa: E402
from player_agent.brightness import dim  # noqa: E402
from player_agent.state import StateStore  # noqa: E402
from signage_core.brightness import BrightnessOverride, BrightnessPlan, PlanTime  # noqa: E402
from signage_core.languages import Language  # noqa: E402
from signage_core.manifest import LayoutKind, Slide  # noqa: E402
from signage_core.zones import Widget, WidgetSpec, ZonesSpec, ZoneTemplate  # noqa: E402
from tests.player.agent_world import (  # noqa: E402
    enrol_state,
    manifest,
    signed,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
CAPTIONS = [
    {Language.VI: "Cửa khẩu quốc tế Mộc Bài", Language.EN: "Moc Bai international border gate",
     Language.KM: "ច្រកព្រំដែនអន្តរជាតិ មុកបៃ"},
    {Language.VI: "Vui lòng xuất trình hộ chiếu", Language.EN: "Please show your passport",
     Language.KM: "សូមបង្ហាញលិខិតឆ្លងដែន"},
    {Language.VI: "Cấm hút thuốc", Language.EN: "No smoking", Language.KM: "ហាមជក់បារី"},
]


def prepare(root: Path, kind: str, *, dimmed: bool = False) -> Path:
    """A state dir with a signed manifest, and a config for the null output; dimmed: 40 % all along."""
    name = f"{kind}-dimmed" if dimmed else kind
    state = root / name
    enrol_state(state, f"bench-{kind}")
    slides = [Slide(id=f"s{i}", captions=dict(c)) for i, c in enumerate(CAPTIONS)]
    now = datetime.now(UTC)
    plan = BrightnessPlan(day_from=PlanTime(at=dtime(6)), night_from=PlanTime(at=dtime(18)),
                          override=BrightnessOverride(percent=40, until=now + timedelta(days=1))) if dimmed else None
    if kind == "zoned":
        zones = ZonesSpec(template=ZoneTemplate.MAIN_STRIP_TICKER, widgets=(
            WidgetSpec(kind=Widget.CLOCK), WidgetSpec(kind=Widget.SOLAR_DATE), WidgetSpec(kind=Widget.LUNAR_DATE)))
        body = manifest(f"bench-{kind}", 1, now=now, slides=slides, durations_ms=20_000,
                        size=(768, 384), brightness=plan, zones=zones)
        extra = "ticker_fps = 60\n"
    elif kind == "static":
        body = manifest(f"bench-{kind}", 1, now=now, slides=slides, durations_ms=5000,
                        size=(1920, 1080), brightness=plan)
        extra = ""
    else:
        body = manifest(f"bench-{kind}", 1, now=now, slides=slides, durations_ms=20_000,
                        layout=LayoutKind.TICKER, size=(960, 160), brightness=plan)
        extra = "ticker_fps = 60\n"
    (state / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state / "state.json").accept_manifest(1)
    config = root / f"{name}.toml"
    config.write_text(f'state_dir = "{state}"\noutput = "null"\nheartbeat_period_s = 30\nlog_level = "WARNING"\n'
                      f"{extra}[screenshot]\nperiod_s = 0\n", encoding="utf-8")
    return config


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(argv: list[str], warmup_s: float, seconds: float) -> tuple[float, float]:
    """(CPU % of one core, RSS MB) over `seconds` after `warmup_s`."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup_s)
        if proc.poll() is not None:
            raise RuntimeError(f"{argv} exited with {proc.returncode}")
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(proc.pid), time.monotonic()
        return 100 * (c1 - c0) / (t1 - t0), rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def naive_worker(config: Path) -> None:
    """Baseline: poll `now_playing` and re-render from scratch on every wake-up (10 Hz static, 60 Hz ticker)."""
    from player_agent.config import load_settings
    from player_agent.output.null import NullOutput
    from signage_core.manifest import ManifestBody, now_playing
    from signage_core.render import TickerStrip, clear_caches, render_slide
    from signage_core.screen import screen_spec
    from signage_core.signing import Envelope

    settings = load_settings(config)
    envelope = Envelope.model_validate_json((settings.state_dir / MANIFEST_FILE).read_bytes())
    body = ManifestBody.model_validate(envelope.body)
    spec = screen_spec(body.layout)
    out = NullOutput()
    ticker = body.layout.layout is LayoutKind.TICKER
    period = 1 / 60 if ticker else 0.1
    start = time.monotonic()
    if body.zones is not None:  # zoned: compose main + strip + ticker from scratch at 60 Hz
        from signage_core.feeds import widget_texts
        from signage_core.render.compose import compose, draw_strip
        from signage_core.screen import zoned_specs

        zoned = zoned_specs(body.layout, body.zones)
        assert zoned.ticker is not None and zoned.rects.strip is not None
        while True:
            now = datetime.now(UTC)
            item = now_playing(body, now)
            clear_caches()
            offset = int((time.monotonic() - start) * settings.ticker_speed_px_s)
            strip = draw_strip(zoned.rects.strip, widget_texts(body.zones.widgets, now, {}), vertical_layout=False)
            out.show(compose((body.layout.width, body.layout.height), zoned.rects,
                             render_slide(zoned.main, item.slide.captions), strip,
                             TickerStrip(zoned.ticker, item.slide.captions).frame(offset)))
            time.sleep(1 / 60)
    while True:
        now = datetime.now(UTC)
        item = now_playing(body, now)
        clear_caches()
        if ticker:
            offset = int((time.monotonic() - start) * settings.ticker_speed_px_s)
            out.show(TickerStrip(spec, item.slide.captions).frame(offset))
        else:
            out.show(render_slide(spec, item.slide.captions))
        time.sleep(period)


def dimming_per_frame(rounds: int = 200) -> None:
    """ms per frame: the player's lookup-table `point` against ImageEnhance.Brightness (a blend with black)."""
    from PIL import ImageEnhance

    from signage_core.render import render_slide
    from signage_core.screen import screen_spec

    factor = 0.4 ** (1 / 2.2)  # the same light output as dim(frame, 40)
    print(f"{'software dimming to 40 %, per frame':<44} {'LUT point':>10} {'Enhance':>8}  (ms)")
    for size, layout in (((960, 160), LayoutKind.TICKER), ((768, 384), LayoutKind.STACKED),
                         ((1920, 1080), LayoutKind.STACKED)):
        body = manifest("bench", 1, now=datetime.now(UTC), size=size, layout=layout)
        frame = render_slide(screen_spec(body.layout), dict(CAPTIONS[0])).convert("RGB")
        timings = []
        for method in (lambda f: dim(f, 40), lambda f: ImageEnhance.Brightness(f).enhance(factor)):
            method(frame)  # warm: the table is built once per level
            t0 = time.perf_counter()
            for _ in range(rounds):
                method(frame)
            timings.append((time.perf_counter() - t0) / rounds * 1000)
        print(f"{f'{size[0]}x{size[1]}':<44} {timings[0]:>10.3f} {timings[1]:>8.3f}", flush=True)


def ticker_frame_cost(rounds: int = 600) -> None:
    """ms per ticker frame in the player's scenes: a ticker-only screen (before zones) beside zoned screens
    (main + strip + ticker: the ticker's crop pasted on a copy of the cached main + strip)."""
    from player_agent.scenes import RenderCache, Scene, ZonedScene
    from signage_core.screen import screen_spec, zoned_specs

    print(f"{'ticker frame cost (scene.frame_at), per frame':<44} {'ms':>10}")
    start = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    widgets = (WidgetSpec(kind=Widget.CLOCK), WidgetSpec(kind=Widget.SOLAR_DATE), WidgetSpec(kind=Widget.LUNAR_DATE))
    cases = []
    for size in ((960, 160), (768, 128)):
        body = manifest("bench", 1, now=start, size=size, layout=LayoutKind.TICKER)
        cases.append((f"before: ticker-only {size[0]}x{size[1]}",
                      Scene("s0", screen_spec(body.layout), dict(CAPTIONS[0]), None, start, 20_000, 60, 120.0)))
    for size in ((768, 384), (1920, 1080)):
        body = manifest("bench", 1, now=start, size=size)
        zoned = zoned_specs(body.layout, ZonesSpec(template=ZoneTemplate.MAIN_STRIP_TICKER, widgets=widgets))
        cache_ = RenderCache()
        main = Scene("s0", zoned.main, dict(CAPTIONS[0]), None, start, 20_000, 60, 120.0)
        ticker = Scene("t0", zoned.ticker, dict(CAPTIONS[1]), None, start, 20_000, 60, 120.0)  # type: ignore[arg-type]
        cases.append((f"after: main+strip+ticker {size[0]}x{size[1]}",
                      ZonedScene("s0", zoned, main, ticker, widgets, dict, lambda s, t, c=cache_: s.frame_at(c, t))))
    for label, scene in cases:
        cache_ = RenderCache()
        scene.frame_at(cache_, start)  # warm: strips and the main frame drawn once
        t0 = time.perf_counter()
        for i in range(rounds):
            scene.frame_at(cache_, start + timedelta(milliseconds=1000 * i / 60))
        print(f"{label:<44} {(time.perf_counter() - t0) / rounds * 1000:>10.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--naive-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dimming-only", action="store_true", help="only the per-frame dimming figures")
    parser.add_argument("--frames-only", action="store_true", help="only the per-frame dimming and ticker figures")
    parser.add_argument("--cases", default="static,ticker,zoned", help="player cases to run, comma-separated")
    args = parser.parse_args()
    if args.naive_worker is not None:
        naive_worker(args.naive_worker)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    dimming_per_frame()
    if args.dimming_only:
        return
    ticker_frame_cost()
    if args.frames_only:
        return
    player = [sys.executable, "-c", "from player_agent.cli import app; app()", "run", "--config"]
    naive = [sys.executable, str(Path(__file__).resolve()), "--naive-worker"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.seconds:.0f} s per case after warm-up")
    print(f"{'case':<44} {'CPU % core':>10} {'RSS MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, label in (("static", "static 1920x1080 stacked, 5 s items"),
                            ("ticker", "ticker 960x160 @ 60 fps"),
                            ("zoned", "zoned 768x384 main+strip+ticker @ 60 fps")):
            if kind not in args.cases.split(","):
                continue
            config = prepare(Path(tmp), kind)
            dimmed = prepare(Path(tmp), kind, dimmed=True)
            for name, argv in (("signage-player run", [*player, str(config)]),
                               ("signage-player run, dimmed 40 %", [*player, str(dimmed)]),
                               ("naive polling re-render", [*naive, str(config)])):
                cpu, rss = measure(argv, warmup_s=6.0, seconds=args.seconds)
                print(f"{label + ': ' + name:<44} {cpu:>10.1f} {rss:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
