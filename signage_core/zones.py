"""Zone templates: where the slides, the information strip and the ticker sit on one screen.

Templates, not a free-form editor: each zone's rectangle is computed from the screen size alone, so the
server's preview, the compiler's checks and the player cut the screen the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ZoneTemplate(StrEnum):
    MAIN_TICKER = "main_ticker"  # slides above, a scrolling ticker along the bottom
    MAIN_SIDE = "main_side"  # slides on the left, the information strip down the right side
    MAIN_STRIP_TICKER = "main_strip_ticker"  # slides, then the information strip, then the ticker


class Widget(StrEnum):
    CLOCK = "clock"  # HH:MM, Vietnam time
    SOLAR_DATE = "solar_date"  # weekday and dd/mm/yyyy
    LUNAR_DATE = "lunar_date"  # Vietnamese lunar day/month (UTC+7)
    TEMPERATURE = "temperature"  # from a data feed
    RATES = "rates"  # VND per USD / KHR, from a data feed


# Widgets whose value comes from a data feed rather than the player's clock.
FEED_WIDGETS = frozenset({Widget.TEMPERATURE, Widget.RATES})
ALERT_COVERS = ("full", "main")

# Shares of the screen and the least pixels each zone needs to carry legible text.
TICKER_SHARE = 0.15
STRIP_SHARE = 0.12
SIDE_SHARE = 0.25
MIN_TICKER_PX = 32
MIN_STRIP_PX = 24
MIN_SIDE_PX = 120
MIN_MAIN_PX = 96


class WidgetSpec(BaseModel):
    """One item of the strip; feed widgets name their feed and how old a value may be before it is hidden."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Widget
    feed: str | None = Field(default=None, min_length=1, max_length=64)
    max_age_s: int = Field(default=3600, ge=60, le=7 * 86400)

    @model_validator(mode="after")
    def _feed(self) -> WidgetSpec:
        if (self.kind in FEED_WIDGETS) != (self.feed is not None):
            need = "needs a feed" if self.kind in FEED_WIDGETS else "takes no feed"
            raise ValueError(f"widget {self.kind.value} {need}")
        return self


class ZonesSpec(BaseModel):
    """A screen's zone template as the manifest carries it (absent: one zone, the whole screen)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: ZoneTemplate
    # The ticker zone scrolls this playlist's slides; None: it scrolls the main zone's current slide.
    ticker_playlist: str | None = Field(default=None, min_length=1)
    widgets: tuple[WidgetSpec, ...] = ()

    @model_validator(mode="after")
    def _widgets(self) -> ZonesSpec:
        kinds = [w.kind for w in self.widgets]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"widgets repeat: {[k.value for k in kinds]}")
        if self.widgets and not has_strip(self.template):
            raise ValueError(f"template {self.template.value} has no strip for widgets")
        return self


@dataclass(frozen=True, slots=True)
class Rect:
    """A zone's pixel rectangle on the screen."""

    left: int
    top: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.left + self.width, self.top + self.height)


@dataclass(frozen=True, slots=True)
class ZoneRects:
    main: Rect
    strip: Rect | None
    ticker: Rect | None

    @property
    def strip_vertical(self) -> bool:
        """A side strip stacks its widgets; a bottom strip lines them up."""
        return self.strip is not None and self.strip.height > self.strip.width


def has_strip(template: ZoneTemplate) -> bool:
    return template in (ZoneTemplate.MAIN_SIDE, ZoneTemplate.MAIN_STRIP_TICKER)


def has_ticker(template: ZoneTemplate) -> bool:
    return template in (ZoneTemplate.MAIN_TICKER, ZoneTemplate.MAIN_STRIP_TICKER)


def _share(total: int, share: float, least: int) -> int:
    return max(least, math.floor(total * share))


def zone_rects(width: int, height: int, template: ZoneTemplate) -> ZoneRects:
    """The zones of a width×height screen under a template; refuses a screen too small for it, naming why."""
    if width <= 0 or height <= 0:
        raise ValueError(f"screen size {width}×{height} is not positive")
    label = f"{width}×{height}"
    if template is ZoneTemplate.MAIN_SIDE:
        side = _share(width, SIDE_SHARE, MIN_SIDE_PX)
        main_w = width - side
        if main_w < MIN_MAIN_PX or height < MIN_MAIN_PX:
            raise ValueError(
                f"screen {label} is too small for zone template {template.value}: the main zone would be "
                f"{main_w}×{height} px, at least {MIN_MAIN_PX} px each way are needed"
            )
        return ZoneRects(Rect(0, 0, main_w, height), Rect(main_w, 0, side, height), None)
    ticker_h = _share(height, TICKER_SHARE, MIN_TICKER_PX)
    strip_h = _share(height, STRIP_SHARE, MIN_STRIP_PX) if has_strip(template) else 0
    main_h = height - ticker_h - strip_h
    if main_h < MIN_MAIN_PX or width < MIN_MAIN_PX:
        raise ValueError(
            f"screen {label} is too small for zone template {template.value}: the main zone would be "
            f"{width}×{main_h} px, at least {MIN_MAIN_PX} px each way are needed"
        )
    strip = Rect(0, main_h, width, strip_h) if strip_h else None
    return ZoneRects(Rect(0, 0, width, main_h), strip, Rect(0, main_h + strip_h, width, ticker_h))
