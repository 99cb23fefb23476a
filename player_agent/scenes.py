"""What is on screen at an instant: rendered frames for an item, an alert or a card, and when they change."""

from __future__ import annotations

import copy
import hashlib
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image

from player_agent.brightness import dim
from signage_core.feeds import Reading, next_widget_change, widget_texts
from signage_core.languages import Language
from signage_core.manifest import LayoutSpec, rotation_slots
from signage_core.render import ScreenSpec, TickerStrip, clear_caches, frame_hash, render_slide
from signage_core.render.compose import draw_strip, paste_zones
from signage_core.render.fonts import FontRegistry
from signage_core.render.layout import present
from signage_core.screen import ZonedSpecs
from signage_core.zones import WidgetSpec

WAITING_TEXT = {Language.VI: "Đang chờ nội dung", Language.EN: "Waiting for content"}


@dataclass(frozen=True, slots=True)
class Shown:
    """One frame to hand to the output and what it is, for play records and heartbeats."""

    image: Image.Image
    frame_id: object  # equal ids mean the same pixels: the output is not redrawn
    language: Language  # the first language on screen (heartbeat)
    languages: tuple[Language, ...]  # every language on screen in this frame (proof of play credits each)
    # Hashing a 1080p frame costs milliseconds: done once per cached render, lazily for ticker frames.
    hash_of: Callable[[], str]
    next_change: datetime | None  # None: nothing changes until the item ends
    # The same frame at a brightness percent, where that is cheaper than dimming it (ticker: a crop of
    # a strip dimmed once); None: dim the image itself.
    dimmed: Callable[[int], Image.Image] | None = None


class _Rendered:
    """A finished frame kept zlib-packed: text on a plain background packs ~50x, so a week's slides fit a small board."""

    __slots__ = ("_hash", "mode", "packed", "size")

    def __init__(self, image: Image.Image) -> None:
        self.mode = image.mode
        self.size = image.size
        raw = image.tobytes()
        self._hash: str | None = hashlib.sha256(raw).hexdigest() if image.mode == "RGB" else None
        self.packed = zlib.compress(raw, 1)

    @property
    def image(self) -> Image.Image:
        return Image.frombytes(self.mode, self.size, zlib.decompress(self.packed))

    def hash(self) -> str:
        if self._hash is None:
            self._hash = frame_hash(self.image)
        return self._hash


class RenderCache:
    """Renders per (slide, language, size) kept in memory: a player shows the same slides all week."""

    def __init__(self, registry: FontRegistry | None = None, *, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._registry = registry
        self._max_bytes = max_bytes
        self._bytes = 0
        self._frames: OrderedDict[tuple[object, ...], _Rendered] = OrderedDict()
        self._strips: OrderedDict[tuple[object, ...], TickerStrip] = OrderedDict()
        # Per strip in use, its copy at the current brightness level (goes with the strip).
        self._dimmed: weakref.WeakKeyDictionary[TickerStrip, tuple[int, TickerStrip]] = weakref.WeakKeyDictionary()
        self._base: tuple[object, ZonedSpecs, Image.Image] | None = None  # the last zone_base
        self._main: tuple[object, Shown] | None = None  # the last zone_main
        self._working: tuple[Image.Image, Image.Image] | None = None  # (base, its working copy)
        self._strip_image: tuple[object, Image.Image] | None = None  # the strip drawn for its last text
        self._lock = threading.Lock()
        self.renders = 0  # how many times the renderer really ran (tests, benchmark)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._strips.clear()

    def frame(
        self,
        key: str,
        spec: ScreenSpec,
        captions: Mapping[Language, str],
        image: Image.Image | None,
        language: Language | None,
    ) -> _Rendered:
        """A stacked slide or one rotate frame, rendered once per key, language and screen spec."""
        cache_key = (key, tuple(sorted(captions.items())), language, spec)
        with self._lock:
            hit = self._frames.get(cache_key)
            if hit is not None:
                self._frames.move_to_end(cache_key)
                return hit
        rendered = _Rendered(render_slide(spec, captions, image, language=language, registry=self._registry))
        # The finished frame is what we keep; the renderer's own picture and mask caches would hold
        # the same pixels a second time on a small board.
        clear_caches()
        with self._lock:
            self.renders += 1
            self._frames[cache_key] = rendered
            self._bytes += len(rendered.packed)
            while self._bytes > self._max_bytes and len(self._frames) > 1:
                _, old = self._frames.popitem(last=False)
                self._bytes -= len(old.packed)
        return rendered

    def zone_main(self, scene: Scene, now: datetime, draw: Callable[[Scene, datetime], Shown]) -> Shown:
        """The main zone's frame, kept until it changes: unpacking it again for each ticker frame costs more
        than the ticker itself."""
        ident = (scene.key, scene.started_at, scene.spec, id(scene.image), tuple(sorted(scene.captions.items())))
        with self._lock:
            memo = self._main
        if memo is not None and memo[0] == ident and (memo[1].next_change is None or now < memo[1].next_change):
            return memo[1]
        shown = draw(scene, now)
        with self._lock:
            self._main = (ident, shown)
        return shown

    def zone_working(self, base: Image.Image) -> Image.Image:
        """The frame ticker crops are pasted into: a copy of the current base, made once per base."""
        with self._lock:
            if self._working is not None and self._working[0] is base:
                return self._working[1]
        working = base.copy()
        with self._lock:
            self._working = (base, working)
        return working

    def zone_base(self, zoned: ZonedSpecs, main: Shown, texts: tuple[str, ...]) -> Image.Image:
        """The main zone and the strip composed once per main frame and strip text; ticker frames paste on a copy."""
        key = (id(zoned), main.frame_id, texts)
        with self._lock:
            hit = self._base
            if hit is not None and hit[0] == key and hit[1] is zoned:
                return hit[2]
        rects = zoned.rects
        frame = Image.new("RGB", (zoned.width, zoned.height), (0, 0, 0))
        strip = None
        if rects.strip is not None:
            # Kept by its text: a main zone that changes every frame (a ticker layout) must not re-shape the strip.
            strip_key = (rects.strip, texts)
            with self._lock:
                kept = self._strip_image
            if kept is not None and kept[0] == strip_key:
                strip = kept[1]
            else:
                strip = draw_strip(rects.strip, texts, vertical_layout=rects.strip_vertical, registry=self._registry)
                with self._lock:
                    self._strip_image = (strip_key, strip)
        paste_zones(frame, rects, main.image, strip, None)
        with self._lock:
            self._base = (key, zoned, frame)
        return frame

    def dimmed_strip(self, strip: TickerStrip, percent: int) -> TickerStrip:
        """The strip at a brightness percent, dimmed once per level: each frame is then only a crop."""
        with self._lock:
            hit = self._dimmed.get(strip)
            if hit is not None and hit[0] == percent:
                return hit[1]
        dimmed = copy.copy(strip)
        dimmed.image = dim(strip.image, percent)
        with self._lock:
            self._dimmed[strip] = (percent, dimmed)
        return dimmed

    def strip(self, key: str, spec: ScreenSpec, captions: Mapping[Language, str]) -> TickerStrip:
        """The ticker strip for a slide, shaped and drawn once; frames are crops of it."""
        cache_key = (key, tuple(sorted(captions.items())), spec)
        with self._lock:
            hit = self._strips.get(cache_key)
            if hit is not None:
                self._strips.move_to_end(cache_key)
                return hit
        strip = TickerStrip(spec, captions, registry=self._registry)
        clear_caches()
        with self._lock:
            self.renders += 1
            self._strips[cache_key] = strip
            while len(self._strips) > 8:
                self._strips.popitem(last=False)
        return strip


@dataclass(frozen=True, slots=True)
class Scene:
    """Captions drawn the screen's way from `started_at` on; `frame_at` says what shows and until when.

    `duration_ms` is the item's length: a rotate item shares it equally among its languages
    (signage_core.manifest.rotation_slots), so every language is up for its share in every loop.
    """

    key: str
    spec: ScreenSpec
    captions: Mapping[Language, str]
    image: Image.Image | None
    started_at: datetime
    duration_ms: int
    ticker_fps: int
    ticker_speed_px_s: float

    def shown_languages(self) -> tuple[Language, ...]:
        """The languages this scene puts on screen, in the screen's order (all at once unless rotating)."""
        return tuple(present(self.spec, self.captions)) or (self.spec.languages[0],)

    def frame_at(self, cache: RenderCache, now: datetime) -> Shown:
        """The frame on screen at `now` and the next instant it changes (rotation step, ticker frame)."""
        elapsed = max(now - self.started_at, timedelta(0))
        languages = self.shown_languages()
        if self.spec.layout == "ticker":
            strip = cache.strip(self.key, self.spec, self.captions)
            offset = int(elapsed.total_seconds() * self.ticker_speed_px_s)
            image = strip.frame(offset)
            step = timedelta(seconds=1 / self.ticker_fps)
            frames_done = elapsed // step
            return Shown(image, (id(strip), offset), languages[0], languages, _lazy_hash(image),
                         self.started_at + (frames_done + 1) * step,
                         lambda percent: cache.dimmed_strip(strip, percent).frame(offset))
        if self.spec.layout == "rotate":
            elapsed_ms = elapsed // timedelta(milliseconds=1)
            slots = rotation_slots(self.duration_ms, len(languages))
            index = next((i for i, (_, end) in enumerate(slots) if elapsed_ms < end), len(slots) - 1)
            language = languages[index]
            rendered = cache.frame(self.key, self.spec, self.captions, self.image, language)
            nxt = None
            if index + 1 < len(slots):
                nxt = self.started_at + timedelta(milliseconds=slots[index][1])
            return Shown(rendered.image, id(rendered), language, (language,), rendered.hash, nxt)
        rendered = cache.frame(self.key, self.spec, self.captions, self.image, None)
        return Shown(rendered.image, id(rendered), languages[0], languages, rendered.hash, None)


def _lazy_hash(image: Image.Image) -> Callable[[], str]:
    box: list[str] = []

    def compute() -> str:
        if not box:
            box.append(frame_hash(image))
        return box[0]

    return compute


def waiting_card(layout: LayoutSpec | None, name: str, *, width: int, height: int) -> tuple[ScreenSpec, dict[Language, str]]:
    """The neutral card shown with no valid manifest: the screen's name and a bilingual 'waiting'."""
    if layout is not None:
        width, height = layout.width, layout.height
    spec = ScreenSpec(width=width, height=height, layout="stacked", languages=(Language.VI, Language.EN))
    captions = {Language.VI: f"{name}\n{WAITING_TEXT[Language.VI]}", Language.EN: WAITING_TEXT[Language.EN]}
    return spec, captions


@dataclass(frozen=True, slots=True)
class ZonedScene:
    """A zoned screen: the main zone's scene (a slide, or an alert covering the main zone only), the
    information strip and the ticker, composed into one frame by signage_core.render.compose.

    `draw` is how the main and ticker scenes are drawn (the agent's, with its stacked-to-ticker fallback);
    `readings` is read at each frame, so a new feed value or one going stale changes the strip at once.
    """

    key: str
    zoned: ZonedSpecs
    main: Scene
    ticker: Scene | None
    widgets: tuple[WidgetSpec, ...]
    readings: Callable[[], Mapping[str, Reading]]
    draw: Callable[[Scene, datetime], Shown]

    @property
    def spec(self) -> ScreenSpec:
        return self.main.spec

    def shown_languages(self) -> tuple[Language, ...]:
        return self.main.shown_languages()

    def frame_at(self, cache: RenderCache, now: datetime) -> Shown:
        """The composed frame at `now`; it changes with the main zone, the ticker's scroll or the strip's text."""
        main = cache.zone_main(self.main, now, self.draw)
        ticker = self.draw(self.ticker, now) if self.ticker is not None else None
        rects = self.zoned.rects
        readings = self.readings()
        texts = tuple(widget_texts(self.widgets, now, readings)) if rects.strip is not None else ()
        base = cache.zone_base(self.zoned, main, texts)
        if ticker is None:
            frame = base
        else:
            # One working frame per base, its ticker band overwritten in place: copying a whole 1080p frame
            # 60 times a second costs more than the ticker's budget. Outputs take a frame synchronously.
            frame = cache.zone_working(base)
            paste_zones(frame, rects, None, None, ticker.image)
        changes = [c for c in (main.next_change, None if ticker is None else ticker.next_change,
                               next_widget_change(self.widgets, now, readings) if texts or self.widgets else None)
                   if c is not None]
        frame_id = (main.frame_id, texts, None if ticker is None else ticker.frame_id)
        return Shown(frame, frame_id, main.language, main.languages, _lazy_hash(frame), min(changes, default=None))
