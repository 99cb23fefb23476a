"""Thumbnails keep the screen's shape and colours, small enough for a weak 4G link."""

from __future__ import annotations

import io

from PIL import Image

from player_agent.config import ScreenshotOptions
from player_agent.screenshot import thumbnail_jpeg


def test_ticker_thumbnail_keeps_aspect_and_colour() -> None:
    frame = Image.new("RGB", (960, 160), (200, 16, 46))  # the red of the flag
    frame.paste((255, 205, 0), (430, 40, 530, 120))
    data = thumbnail_jpeg(frame, ScreenshotOptions(thumbnail_width=240, jpeg_quality=80))
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (240, 40)
        r, g, b = thumb.getpixel((10, 10))  # type: ignore[misc]
        assert abs(r - 200) < 12 and g < 40 and abs(b - 46) < 20
        r, g, b = thumb.getpixel((120, 20))  # type: ignore[misc]
        assert r > 230 and g > 180 and b < 50
    assert len(data) < 8_000


def test_small_frame_is_not_upscaled() -> None:
    frame = Image.new("RGBA", (100, 50), (0, 0, 0, 255))
    with Image.open(io.BytesIO(thumbnail_jpeg(frame, ScreenshotOptions()))) as thumb:
        assert thumb.size == (100, 50)
