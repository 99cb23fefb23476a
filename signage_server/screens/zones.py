"""A screen's zone template as stored (screens.zones, migration 0018) and as the manifest carries it."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from signage_core.feeds import widget_texts
from signage_core.languages import Language
from signage_core.zones import Widget, WidgetSpec, ZonesSpec, ZoneTemplate, zone_rects
from signage_server.errors import Invalid, NotFound
from signage_server.playlists.models import Playlist
from signage_server.screens.models import Screen


class StoredZones(BaseModel):
    """The stored form: the ticker playlist by its database id; the manifest names it by its wire id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: ZoneTemplate
    ticker_playlist_id: int | None = Field(default=None, ge=1, le=2**31 - 1)  # PostgreSQL integer
    widgets: tuple[WidgetSpec, ...] = ()

    def spec(self, *, ticker_playlist: str | None) -> ZonesSpec:
        return ZonesSpec(template=self.template, ticker_playlist=ticker_playlist, widgets=self.widgets)


def stored(value: dict[str, Any] | None) -> StoredZones | None:
    return None if value is None else StoredZones.model_validate(value)


def check_zones(session: Session, value: object, *, width: int, height: int) -> dict[str, Any] | None:
    """Validate a screen's zones against its size, its ticker playlist and the configured feeds; None: one zone."""
    if value is None:
        return None
    try:
        zones = value if isinstance(value, StoredZones) else StoredZones.model_validate(value)
        ZonesSpec(template=zones.template, widgets=zones.widgets)  # the strip rules (widgets need a strip)
    except ValidationError as exc:
        raise Invalid("zones are not valid: %(reason)s", field="zones",
                      params={"reason": "; ".join(e["msg"] for e in exc.errors())}) from None
    try:
        zone_rects(width, height, zones.template)
    except ValueError:
        raise Invalid("screen %(size)s is too small for zone template %(template)s", field="zones",
                      params={"size": f"{width}×{height}", "template": zones.template.value}) from None
    if zones.ticker_playlist_id is not None and session.get(Playlist, zones.ticker_playlist_id) is None:
        raise NotFound("playlist", zones.ticker_playlist_id)
    from signage_server.feeds.models import DataFeed

    names = {w.feed for w in zones.widgets if w.feed is not None}
    known = set(session.exec(select(DataFeed.name).where(col(DataFeed.name).in_(names))).all()) if names else set()
    if names - known:
        raise Invalid("unknown data feed %(name)s", field="zones", params={"name": sorted(names - known)[0]})
    return zones.model_dump(mode="json")


ZONE_LABELS: dict[Language, str] = {Language.VI: "Nội dung chính", Language.EN: "Main content"}
TICKER_LABELS: dict[Language, str] = {Language.VI: "Chữ chạy", Language.EN: "Ticker"}
DEFAULT_WIDGETS = (WidgetSpec(kind=Widget.CLOCK), WidgetSpec(kind=Widget.SOLAR_DATE),
                   WidgetSpec(kind=Widget.LUNAR_DATE))


def ticker_message(session: Session, screen: Screen) -> dict[Language, str] | None:
    """The first message the screen's ticker playlist scrolls, as its latest manifest carries it (what its
    player draws); None when the screen has no ticker playlist or no manifest names one yet."""
    from signage_server.manifests.history import body_of, latest_manifest

    record = latest_manifest(session, screen_id=screen.id) if screen.id is not None else None
    body = body_of(record) if record is not None else None
    if body is None or body.zones is None or body.zones.ticker_playlist is None:
        return None
    playlist = body.playlists.get(body.zones.ticker_playlist)
    slide = body.slides.get(playlist.items[0].slide_id) if playlist is not None and playlist.items else None
    return dict(slide.captions) if slide is not None else None


def preview_png(screen: Screen, template: ZoneTemplate, *, now: datetime,
                widgets: tuple[WidgetSpec, ...] | None = None, ticker: Mapping[Language, str] | None = None) -> bytes:
    """A template on this screen at its native size: the zones labelled, the strip with its texts now, the
    ticker with the screen's real message (ticker_message) or else its label."""
    from signage_core.render import render_slide
    from signage_core.screen import zoned_specs
    from signage_server.screens.service import layout_of

    zoned = zoned_specs(layout_of(screen), ZonesSpec(template=template))
    main = render_slide(zoned.main.model_copy(update={"background": (40, 40, 40)}), ZONE_LABELS)
    buffer = io.BytesIO()
    composed(screen, template, main, now=now, widgets=widgets, ticker_captions=ticker or TICKER_LABELS).save(
        buffer, format="PNG")
    return buffer.getvalue()


def composed(screen: Screen, template: ZoneTemplate, main: Image.Image, *, now: datetime,
             widgets: tuple[WidgetSpec, ...] | None = None,
             ticker_captions: Mapping[Language, str] | None = TICKER_LABELS) -> Image.Image:
    """The screen's frame with `main` in its main zone, by the player's compositor: the strip with its real
    widget texts now (feed values are the player's, so the preview leaves them out), the ticker at its start
    (None: the ticker zone stays dark, as a player's does under a main-zone alert without a ticker playlist)."""
    from signage_core.render import TickerStrip
    from signage_core.render.compose import compose, draw_strip
    from signage_core.screen import zoned_specs
    from signage_server.screens.service import layout_of

    zoned = zoned_specs(layout_of(screen), ZonesSpec(template=template))
    rects = zoned.rects
    strip = None
    if rects.strip is not None:
        texts = widget_texts(widgets if widgets is not None else DEFAULT_WIDGETS, now, {})
        strip = draw_strip(rects.strip, texts, vertical_layout=rects.strip_vertical)
    ticker = None
    if zoned.ticker is not None and ticker_captions is not None:
        captions = {lang: text for lang, text in ticker_captions.items() if lang in zoned.ticker.languages}
        ticker = TickerStrip(zoned.ticker, captions).frame(zoned.ticker.width - zoned.ticker.margin)
    return compose((screen.width_px, screen.height_px), rects, main, strip, ticker)
