"""One screen as the renderer draws it: the single translation from a stored layout to a ScreenSpec."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from signage_core.manifest import LayoutKind, LayoutSpec
from signage_core.render.spec import RGB, ScreenSpec
from signage_core.zones import ZoneRects, ZonesSpec, zone_rects


def screen_spec(layout: LayoutSpec, *, background: RGB = (0, 0, 0)) -> ScreenSpec:
    """The renderer's view of a layout: same size, layout, language order (as configured) and foreign ratio.

    Caption validation, the slide preview, the compiler's checks and the player all call this, so a screen
    set up as [vi, km, en] is drawn, previewed and rotated in that order everywhere.
    """
    return ScreenSpec(
        width=layout.width,
        height=layout.height,
        layout=layout.layout.value,
        languages=layout.languages,
        foreign_ratio=layout.foreign_size_ratio,
        background=background,
    )


ALERT_BACKGROUND: RGB = (170, 0, 0)  # urgent alerts are drawn on red, by the player and in the server's preview


def alert_spec(layout: LayoutSpec, size: tuple[int, int] | None = None) -> ScreenSpec:
    """Alerts keep the screen's size (or the main zone's) and languages, on red; rotate screens show alerts stacked.

    The player draws alerts with it and the alert confirm page previews them with it, so the two agree.
    """
    kind = "ticker" if layout.layout is LayoutKind.TICKER else "stacked"
    width, height = size or (layout.width, layout.height)
    return ScreenSpec(
        width=width,
        height=height,
        layout=kind,
        languages=layout.languages,
        foreign_ratio=layout.foreign_size_ratio,
        background=ALERT_BACKGROUND,
    )


@dataclass(frozen=True, slots=True)
class ZonedSpecs:
    """A zoned screen as the renderer draws it: the zones, and the spec of the slides and of the ticker inside them."""

    width: int
    height: int
    rects: ZoneRects
    main: ScreenSpec  # the screen's own layout (stacked / rotate / ticker) at the main zone's size
    ticker: ScreenSpec | None


@lru_cache(maxsize=64)
def zoned_specs(layout: LayoutSpec, zones: ZonesSpec, *, background: RGB = (0, 0, 0)) -> ZonedSpecs:
    """The one way a zoned screen is cut: the player, the live preview and the compiler's checks all call it.

    The 3/4 rule and the language order are the screen's in every zone, because each zone's spec is
    screen_spec's with only the size changed. Cached: the player asks at every ticker frame, and the same
    object lets it keep the composed main zone and strip.
    """
    whole = screen_spec(layout, background=background)
    rects = zone_rects(layout.width, layout.height, zones.template)
    main = whole.model_copy(update={"width": rects.main.width, "height": rects.main.height})
    ticker = None
    if rects.ticker is not None:
        ticker = whole.model_copy(update={"width": rects.ticker.width, "height": rects.ticker.height,
                                          "layout": "ticker"})
    return ZonedSpecs(layout.width, layout.height, rects, ScreenSpec.model_validate(main.model_dump()),
                      None if ticker is None else ScreenSpec.model_validate(ticker.model_dump()))
