"""Small JPEG thumbnails of what is really on screen, for the dashboard and on-request screenshots."""

from __future__ import annotations

import io

from PIL import Image

from player_agent.config import ScreenshotOptions


def thumbnail_jpeg(frame: Image.Image, options: ScreenshotOptions) -> bytes:
    """Scale to the configured width keeping the aspect ratio; never upscale a small frame."""
    rgb = frame if frame.mode == "RGB" else frame.convert("RGB")
    width = min(options.thumbnail_width, rgb.width)
    height = max(1, round(rgb.height * width / rgb.width))
    small = rgb.resize((width, height), Image.Resampling.LANCZOS) if width != rgb.width else rgb
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=options.jpeg_quality, optimize=True)
    return buf.getvalue()
