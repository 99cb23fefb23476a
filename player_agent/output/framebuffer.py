"""Output straight to /dev/fbN for players without X or Wayland (size, stride and depth from sysfs).

Supported depths: 16 bits (RGB565, little-endian, the usual fbdev/Pi setting) and 32 bits
(BGRX, i.e. XRGB8888 in memory on little-endian machines). Other depths are refused by name.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops

from player_agent.output.base import OutputError, as_rgb, check_fits

# Lookup tables that place each channel's kept bits in the RGB565 high and low bytes.
_R_HI = [v & 0xF8 for v in range(256)]
_G_HI = [v >> 5 for v in range(256)]
_G_LO = [(v << 3) & 0xE0 for v in range(256)]
_B_LO = [v >> 3 for v in range(256)]


@dataclass(frozen=True)
class FramebufferInfo:
    """Geometry the kernel reports for one framebuffer."""

    width: int
    height: int
    stride: int  # bytes per line, may exceed width * bytes_per_pixel
    bits_per_pixel: int

    @property
    def bytes_per_pixel(self) -> int:
        return self.bits_per_pixel // 8


def read_fb_info(sysfs_dir: Path) -> FramebufferInfo:
    """Parse virtual_size, stride and bits_per_pixel from /sys/class/graphics/fbN."""

    def read(name: str) -> str:
        try:
            return (sysfs_dir / name).read_text(encoding="ascii").strip()
        except OSError as exc:
            raise OutputError(
                f"framebuffer: cannot read {sysfs_dir / name}: {exc.strerror}"
            ) from exc

    size = read("virtual_size")
    try:
        width, height = (int(part) for part in size.split(","))
        stride = int(read("stride"))
        bpp = int(read("bits_per_pixel"))
    except ValueError as exc:
        raise OutputError(f"framebuffer: unreadable geometry in {sysfs_dir}: {exc}") from exc
    if bpp not in (16, 32):
        raise OutputError(
            f"framebuffer: {sysfs_dir} has bits_per_pixel {bpp}; supported are 16 (RGB565) and 32"
        )
    if width <= 0 or height <= 0 or stride < width * bpp // 8:
        raise OutputError(
            f"framebuffer: inconsistent geometry in {sysfs_dir}: {width}x{height}, stride {stride}"
        )
    return FramebufferInfo(width=width, height=height, stride=stride, bits_per_pixel=bpp)


def encode_pixels(frame: Image.Image, bits_per_pixel: int) -> bytes:
    """Frame rows in the device's pixel format, unpadded (width * bytes_per_pixel per row)."""
    rgb = as_rgb(frame)
    if bits_per_pixel == 32:
        return rgb.tobytes("raw", "BGRX")
    if bits_per_pixel == 16:
        r, g, b = rgb.split()
        # The bit fields are disjoint, so a saturating add is an exact bitwise OR.
        hi = ImageChops.add(r.point(_R_HI), g.point(_G_HI))
        lo = ImageChops.add(g.point(_G_LO), b.point(_B_LO))
        return Image.merge("LA", (lo, hi)).tobytes()
    raise OutputError(f"framebuffer: unsupported bits_per_pixel {bits_per_pixel}")


class FramebufferOutput:
    """Writes frames at (x, y) of the framebuffer, row by row with the device's stride."""

    def __init__(
        self,
        device: Path,
        *,
        sysfs_root: Path = Path("/sys/class/graphics"),
        x: int = 0,
        y: int = 0,
    ) -> None:
        self.device = device
        self.info = read_fb_info(sysfs_root / device.name)
        if x >= self.info.width or y >= self.info.height:
            raise OutputError(
                f"framebuffer: origin ({x}, {y}) is outside {device} "
                f"({self.info.width}x{self.info.height})"
            )
        self.x = x
        self.y = y
        try:
            # No O_CREAT/O_TRUNC: a missing device must fail, not become a regular file.
            self._fd = os.open(device, os.O_WRONLY)
        except OSError as exc:
            raise OutputError(f"framebuffer: cannot open {device}: {exc.strerror}") from exc

    def show(self, frame: Image.Image) -> None:
        info = self.info
        check_fits(
            frame,
            info.width - self.x,
            info.height - self.y,
            f"{self.device} at ({self.x}, {self.y})",
        )
        self._write_rows(encode_pixels(frame, info.bits_per_pixel), frame.width, frame.height)

    def blank(self) -> None:
        try:
            os.pwrite(self._fd, bytes(self.info.stride * self.info.height), 0)
        except OSError as exc:
            raise OutputError(
                f"framebuffer: write to {self.device} failed: {exc.strerror}"
            ) from exc

    def _write_rows(self, pixels: bytes, width: int, height: int) -> None:
        info = self.info
        try:
            row_bytes = width * info.bytes_per_pixel
            start = self.y * info.stride + self.x * info.bytes_per_pixel
            if row_bytes == info.stride:
                os.pwrite(self._fd, pixels, start)  # full-width frame: one write
                return
            view = memoryview(pixels)
            for row in range(height):
                os.pwrite(
                    self._fd,
                    view[row * row_bytes : (row + 1) * row_bytes],
                    start + row * info.stride,
                )
        except OSError as exc:
            raise OutputError(
                f"framebuffer: write to {self.device} failed: {exc.strerror}"
            ) from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
