"""What every output does with a rendered frame, so the playback loop never cares which one it has."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PIL import Image


class OutputError(Exception):
    """The output device cannot be used; the message names the device and what is wrong."""


@runtime_checkable
class Output(Protocol):
    """A place frames go: a window, a framebuffer, a file, or nowhere (benchmarks)."""

    def show(self, frame: Image.Image) -> None:
        """Put this frame on screen now."""
        ...

    def blank(self) -> None:
        """Show black (off-hours)."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...


def as_rgb(frame: Image.Image) -> Image.Image:
    """Renderers may hand RGBA or P frames; every output works in RGB."""
    return frame if frame.mode == "RGB" else frame.convert("RGB")


def check_fits(frame: Image.Image, width: int, height: int, where: str) -> None:
    """A frame bigger than the device is a configuration mistake worth naming, not cropping."""
    if frame.width > width or frame.height > height:
        raise OutputError(
            f"frame {frame.width}x{frame.height} does not fit {where} ({width}x{height})"
        )
