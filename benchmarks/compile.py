"""Manifest compiler: 1,000 screens x 300 scheduled items, shared work vs a naive per-screen compile."""

from __future__ import annotations

import random
import sys
import time as clock
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluator import make_rules

from signage_core.languages import Language
from signage_core.manifest import (
    LayoutKind,
    LayoutSpec,
    ManifestTemplate,
    Playlist,
    PlaylistItem,
    Slide,
    build_manifest,
    build_manifest_template,
    horizon_window,
    sign_manifest,
)
from signage_core.schedule import ScheduleRule, Segment, timeline
from signage_core.signing import SigningKey

SCREENS = 1000
RULES = 300
GROUPS = 20  # screens in a group share their schedules, as the server resolves them
LAYOUTS = (
    LayoutSpec(width=768, height=384, layout=LayoutKind.STACKED, languages=(Language.VI, Language.EN, Language.KM)),
    LayoutSpec(width=960, height=160, layout=LayoutKind.TICKER, languages=(Language.VI, Language.EN)),
    LayoutSpec(width=512, height=256, layout=LayoutKind.ROTATE, languages=(Language.VI, Language.KM)),
)
NOW = datetime(2026, 2, 10, 3, 0, tzinfo=UTC)  # the week of Tết 2026
KEY = SigningKey.generate()


def content() -> tuple[list[Playlist], list[Slide]]:
    playlists = [Playlist(id=f"playlist-{i}", items=tuple(PlaylistItem(slide_id=f"slide-{i}-{j}", duration_ms=8000)
                                                          for j in range(4))) for i in range(41)]
    playlists.append(Playlist(id="default", items=(PlaylistItem(slide_id="slide-0-0", duration_ms=10000),)))
    slides = [Slide(id=f"slide-{i}-{j}", captions={
        Language.VI: f"Chào mừng quý khách đến cửa khẩu, thông báo {i}.{j}",
        Language.EN: f"Welcome to the border gate, notice {i}.{j}",
        Language.KM: "សូមស្វាគមន៍មកកាន់ច្រកព្រំដែន"}) for i in range(41) for j in range(4)]
    return playlists, slides


def screens() -> list[tuple[str, int, LayoutSpec]]:
    return [(f"screen-{n}", n % GROUPS, LAYOUTS[n % len(LAYOUTS)]) for n in range(SCREENS)]


def naive(group_rules: list[list[ScheduleRule]], playlists: list[Playlist], slides: list[Slide]) -> int:
    """Per screen: evaluate, build, hash and sign, every time, whether or not anything changed."""
    start, end = horizon_window(NOW)
    for screen_id, group, layout in screens():
        body = build_manifest(screen_id=screen_id, version=1, issued_at=NOW, expires_at=end, layout=layout,
                              rules=group_rules[group], default_playlist="default", playlists=playlists,
                              slides=slides, assets=[], horizon_start=start, horizon_end=end)
        sign_manifest(body, KEY)
    return SCREENS


class Compiler:
    """Timeline once per rule set, body encoded once per (rule set, layout); sign only screens whose content changed."""

    def __init__(self) -> None:
        # Per screen: (hash of the shared body, content hash of what was last signed).
        self.issued: dict[str, tuple[str, str]] = {}

    def run(self, group_rules: list[list[ScheduleRule]], playlists: list[Playlist], slides: list[Slide]) -> int:
        start, end = horizon_window(NOW)
        timelines: dict[int, list[Segment]] = {}
        shared: dict[tuple[int, LayoutSpec], ManifestTemplate] = {}
        signed = 0
        for screen_id, group, layout in screens():
            if group not in timelines:
                timelines[group] = timeline(group_rules[group], "default", start, end)
            if (group, layout) not in shared:
                shared[(group, layout)] = build_manifest_template(
                    screen_id=screen_id, version=1, issued_at=NOW, expires_at=end, layout=layout,
                    rules=group_rules[group], default_playlist="default", playlists=playlists, slides=slides,
                    assets=[], horizon_start=start, horizon_end=end, segments=timelines[group])
            template = shared[(group, layout)]
            # A body differs from its template only by screen id: same template hash => same content.
            template_hash = template.body.content_hash
            previous = self.issued.get(screen_id)
            if previous is not None and previous[0] == template_hash:
                continue
            # Spliced from the template's encoded members: one SHA-256 and one signature per screen.
            mine = template.sign(screen_id=screen_id, version=1, issued_at=NOW, expires_at=end, key=KEY)
            self.issued[screen_id] = (template_hash, mine.content_hash)
            signed += 1
        return signed


def timed(fn: object) -> tuple[float, int]:
    t0 = clock.perf_counter()
    result = fn()  # type: ignore[operator]
    return clock.perf_counter() - t0, result


def main() -> None:
    rng = random.Random(7)
    group_rules = [make_rules(RULES, rng) for _ in range(GROUPS)]
    playlists, slides = content()
    start, end = horizon_window(NOW)
    timeline(group_rules[0], "default", start, end)  # warm the lunar cache, as a running server has it

    compiler = Compiler()
    cold, cold_signed = timed(lambda: compiler.run(group_rules, playlists, slides))
    warm, warm_signed = timed(lambda: compiler.run(group_rules, playlists, slides))
    # One group's schedules change (a new Tết campaign): only that group's 50 screens are re-signed.
    changed = [*group_rules]
    changed[3] = make_rules(RULES, random.Random(99))
    one, one_signed = timed(lambda: compiler.run(changed, playlists, slides))
    base, base_signed = timed(lambda: naive(group_rules, playlists, slides))
    print(f"screens: {SCREENS}, scheduled items per screen: {RULES}, distinct rule sets: {GROUPS}, "
          f"layouts: {len(LAYOUTS)}, horizon: 7 days")
    print(f"compiler, first run (all signed):        {cold:6.2f} s, signed {cold_signed}")
    print(f"compiler, nothing changed:               {warm:6.2f} s, signed {warm_signed}")
    print(f"compiler, one group's schedules changed: {one:6.2f} s, signed {one_signed}")
    print(f"naive per-screen compile (same run):     {base:6.2f} s, signed {base_signed} "
          f"({base / warm:.0f}x the unchanged recompile, {base / cold:.1f}x the first run)")


if __name__ == "__main__":
    main()
