"""Zone templates: the rectangles, the strip's widget values, and zones in the signed manifest."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lunar_vn
import pytest
from PIL import Image, ImageChops
from pydantic import ValidationError

from signage_core.feeds import FeedBody, Reading, sign_feed, verify_feed, vi_number, widget_texts
from signage_core.languages import Language
from signage_core.manifest import (
    LayoutKind,
    LayoutSpec,
    ManifestError,
    Playlist,
    PlaylistItem,
    content_hash,
)
from signage_core.render import TickerStrip, render_slide
from signage_core.render.compose import compose, draw_strip
from signage_core.screen import zoned_specs
from signage_core.signing import Rejection, SigningKey, TrustStore, VerificationError
from signage_core.zones import (
    MIN_MAIN_PX,
    Widget,
    WidgetSpec,
    ZonesSpec,
    ZoneTemplate,
    zone_rects,
)
from tests.core.test_manifest import (
    GATE,
    PLAYLISTS,
    SCREEN,
    build,
    sign_manifest,
    verify_manifest,
)
from tests.core.test_render_golden import _captions, _picture

GOLDEN = Path(__file__).parent / "golden"
DEMO_SIZES = [(768, 384), (640, 320), (1920, 1080)]
WIDGETS = (WidgetSpec(kind=Widget.CLOCK), WidgetSpec(kind=Widget.SOLAR_DATE), WidgetSpec(kind=Widget.LUNAR_DATE),
           WidgetSpec(kind=Widget.TEMPERATURE, feed="weather", max_age_s=3600),
           WidgetSpec(kind=Widget.RATES, feed="rates", max_age_s=86400))
NOW = datetime(2026, 12, 3, 1, 5, tzinfo=UTC)  # 08:05 Thursday 3 December in Vietnam
READINGS = {
    "weather": Reading(kind="temperature", observed_at=NOW - timedelta(minutes=20), values={"c": 31.4}),
    "rates": Reading(kind="rates", observed_at=NOW - timedelta(hours=2), values={"USD": 25430.0, "KHR": 6.32}),
}


@pytest.mark.parametrize("size", DEMO_SIZES)
@pytest.mark.parametrize("template", list(ZoneTemplate))
def test_zones_tile_the_screen_without_overlap(size: tuple[int, int], template: ZoneTemplate) -> None:
    width, height = size
    rects = zone_rects(width, height, template)
    zones = [r for r in (rects.main, rects.strip, rects.ticker) if r is not None]
    assert sum(r.width * r.height for r in zones) == width * height
    painted = Image.new("L", size)
    for r in zones:
        assert r.left >= 0 and r.top >= 0 and r.left + r.width <= width and r.top + r.height <= height
        painted.paste(1, r.box)
    assert painted.getextrema() == (1, 1)  # every pixel belongs to a zone
    assert rects.main.left == 0 and rects.main.top == 0  # the slides keep the top-left, the eye's first place
    if template is ZoneTemplate.MAIN_STRIP_TICKER:
        assert rects.strip is not None and rects.ticker is not None
        assert rects.main.top + rects.main.height == rects.strip.top < rects.ticker.top  # strip above ticker
        assert rects.ticker.top + rects.ticker.height == height


def test_a_screen_too_small_for_a_template_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"768×128 is too small for zone template main_strip_ticker"):
        zone_rects(768, 128, ZoneTemplate.MAIN_STRIP_TICKER)
    assert zone_rects(768, 128 + MIN_MAIN_PX, ZoneTemplate.MAIN_TICKER).main.height >= MIN_MAIN_PX


def test_every_zone_keeps_the_screens_languages_and_the_three_quarter_rule() -> None:
    layout = LayoutSpec(width=768, height=384, layout=LayoutKind.ROTATE,
                        languages=(Language.VI, Language.KM, Language.EN), foreign_size_ratio=0.7)
    zoned = zoned_specs(layout, ZonesSpec(template=ZoneTemplate.MAIN_STRIP_TICKER))
    assert zoned.ticker is not None
    for spec in (zoned.main, zoned.ticker):
        assert spec.languages == (Language.VI, Language.KM, Language.EN) and spec.foreign_ratio == 0.7
    assert zoned.main.layout == "rotate" and zoned.ticker.layout == "ticker"
    strip = TickerStrip(zoned.ticker, _captions("welcome-vn"))
    sizes = strip.sizes()
    assert sizes[Language.KM] <= 0.7 * sizes[Language.VI] + 1 and sizes[Language.EN] <= 0.7 * sizes[Language.VI] + 1


def test_widgets_say_vietnam_time_and_the_lunar_date_of_lunar_vn() -> None:
    texts = widget_texts(WIDGETS, NOW, READINGS)
    lunar = lunar_vn.convert_solar_to_lunar(3, 12, 2026, time_zone=7.0)
    assert texts[:3] == ["08:05", "Thứ Năm 03/12/2026", f"Âm lịch {int(lunar.day):02d}/{int(lunar.month):02d}"]
    assert texts[3:] == ["31 °C", "USD 25.430 ₫", "KHR 6,3 ₫"]


@pytest.mark.parametrize(("utc", "lunar"), [
    (datetime(2030, 2, 1, 17, 30, tzinfo=UTC), "Âm lịch 01/01"),  # 00:30 on Tết 2030 in Vietnam, still 1 Feb in UTC
    (datetime(2007, 2, 17, 9, 0, tzinfo=UTC), "Âm lịch 01/01"),
    (datetime(2030, 2, 1, 16, 30, tzinfo=UTC), "Âm lịch 29/12"),  # 23:30 the evening before (a 29-day month)
])
def test_lunar_date_turns_at_vietnam_midnight(utc: datetime, lunar: str) -> None:
    assert widget_texts((WidgetSpec(kind=Widget.LUNAR_DATE),), utc, {}) == [lunar]


def test_a_stale_or_future_or_missing_value_is_hidden_never_shown() -> None:
    later = NOW + timedelta(minutes=41)  # the temperature is now 61 min old, past its 60 min
    assert widget_texts(WIDGETS[3:], later, READINGS) == ["USD 25.430 ₫", "KHR 6,3 ₫"]
    assert widget_texts(WIDGETS[3:], NOW + timedelta(hours=23), READINGS) == []
    future = {"weather": Reading(kind="temperature", observed_at=NOW + timedelta(hours=1), values={"c": 30})}
    assert widget_texts(WIDGETS[3:4], NOW, future) == []
    assert widget_texts(WIDGETS[3:], NOW, {}) == []


def test_vietnamese_number_format() -> None:
    assert vi_number(25430) == "25.430" and vi_number(6.32, 1) == "6,3" and vi_number(1234567.5, 1) == "1.234.567,5"


def test_feed_widgets_need_a_feed_and_widgets_need_a_strip() -> None:
    with pytest.raises(ValidationError, match="temperature needs a feed"):
        WidgetSpec(kind=Widget.TEMPERATURE)
    with pytest.raises(ValidationError, match="clock takes no feed"):
        WidgetSpec(kind=Widget.CLOCK, feed="x")
    with pytest.raises(ValidationError, match="main_ticker has no strip"):
        ZonesSpec(template=ZoneTemplate.MAIN_TICKER, widgets=(WidgetSpec(kind=Widget.CLOCK),))


def test_feed_messages_are_signed_for_one_screen_and_never_go_back() -> None:
    key = SigningKey.generate()
    trust = TrustStore.of(key.public_key)
    body = FeedBody(screen_id=SCREEN, version=1000, issued_at=NOW, expires_at=NOW + timedelta(days=1),
                    readings=READINGS)
    envelope = sign_feed(body, key)
    assert verify_feed(envelope, trust=trust, screen_id=SCREEN, last_version=None, now=NOW) == body
    with pytest.raises(VerificationError) as wrong:
        verify_feed(envelope, trust=trust, screen_id="hoang-dieu", last_version=None, now=NOW)
    assert wrong.value.reason is Rejection.WRONG_SCREEN
    with pytest.raises(VerificationError) as replay:
        verify_feed(envelope, trust=trust, screen_id=SCREEN, last_version=1000, now=NOW)
    assert replay.value.reason is Rejection.STALE_VERSION


def test_zones_in_the_manifest_are_signed_and_absent_when_unset() -> None:
    plain = build()
    assert "zones" not in plain.model_dump(mode="json")  # older players keep reading one-zone manifests
    ticker = Playlist(id="ticker", items=(PlaylistItem(slide_id=GATE, duration_ms=20_000),))
    zones = ZonesSpec(template=ZoneTemplate.MAIN_STRIP_TICKER, ticker_playlist="ticker", widgets=WIDGETS)
    zoned = build(zones=zones, playlists=[*PLAYLISTS, ticker])
    assert "ticker" in zoned.playlists and zoned.zones == zones
    assert content_hash(zoned) != content_hash(plain)
    key = SigningKey.generate()
    back = verify_manifest(sign_manifest(zoned, key), trust=TrustStore.of(key.public_key),
                           screen_id=SCREEN, last_version=None, now=zoned.issued_at)
    assert back.zones == zones


def test_a_manifest_refuses_zones_it_cannot_honour() -> None:
    with pytest.raises(ManifestError, match="playlist.*not supplied.*'news'"):
        build(zones=ZonesSpec(template=ZoneTemplate.MAIN_TICKER, ticker_playlist="news"))
    small = LayoutSpec(width=768, height=128, layout=LayoutKind.TICKER,
                       languages=(Language.VI, Language.EN, Language.KM))
    with pytest.raises(ManifestError, match="768×128 is too small"):
        build(layout=small, zones=ZonesSpec(template=ZoneTemplate.MAIN_STRIP_TICKER))


def composed(template: ZoneTemplate, size: tuple[int, int], layout: LayoutKind = LayoutKind.STACKED) -> Image.Image:
    """A demo screen's frame under a template, drawn the way the player and the preview draw it."""
    width, height = size
    spec = LayoutSpec(width=width, height=height, layout=layout, languages=(Language.VI, Language.EN, Language.KM))
    widgets = WIDGETS if template is not ZoneTemplate.MAIN_TICKER else ()
    zoned = zoned_specs(spec, ZonesSpec(template=template, widgets=widgets))
    rects = zoned.rects
    main = render_slide(zoned.main, _captions("welcome-vn"), _picture((1024, 640)), language=Language.VI)
    strip = None if rects.strip is None else draw_strip(
        rects.strip, widget_texts(widgets, NOW, READINGS), vertical_layout=rects.strip_vertical)
    ticker = None if zoned.ticker is None else TickerStrip(zoned.ticker, _captions("hoa-lu-gate")).frame(width - 40)
    return compose(size, rects, main, strip, ticker)


GOLDEN_CASES = [(t, s, LayoutKind.STACKED) for t in ZoneTemplate for s in ((768, 384), (640, 320))]
GOLDEN_CASES.append((ZoneTemplate.MAIN_STRIP_TICKER, (640, 320), LayoutKind.ROTATE))


@pytest.mark.parametrize(("template", "size", "layout"), GOLDEN_CASES)
def test_composed_frame_matches_the_reviewed_golden(template: ZoneTemplate, size: tuple[int, int],
                                                   layout: LayoutKind) -> None:
    image = composed(template, size, layout)
    path = GOLDEN / f"zones-{template.value}-{size[0]}x{size[1]}-{layout.value}.png"
    if os.environ.get("SIGNAGE_UPDATE_GOLDEN") == "1":
        image.save(path, optimize=True)
    golden = Image.open(path).convert("RGB")
    assert image.size == golden.size == size
    diff = ImageChops.difference(image, golden).convert("L").point(lambda v: 255 if v > 48 else 0)
    assert sum(diff.histogram()[255:]) <= 0.001 * size[0] * size[1]


def test_the_strip_drops_widgets_rather_than_shrink_them_below_legible() -> None:
    rect = zone_rects(640, 320, ZoneTemplate.MAIN_STRIP_TICKER).strip
    assert rect is not None
    many = [f"Mục số {i} rất dài" for i in range(12)]
    image = draw_strip(rect, many, vertical_layout=False)
    assert image.size == (rect.width, rect.height)
    shown = [k for k in range(1, len(many)) if draw_strip(rect, many[:k], vertical_layout=False) == image]
    assert shown, "the strip should show the first widgets that fit and leave the rest out"
