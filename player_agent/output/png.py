"""Output to a PNG file, replaced atomically so a reader (test, web page, rsync) never sees half a frame."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from player_agent.fsutil import atomic_write_bytes
from player_agent.output.base import OutputError, as_rgb


class PngOutput:
    """Writes each frame losslessly, so it can be compared pixel for pixel with the server's preview."""

    def __init__(self, path: Path, *, blank_size: tuple[int, int] = (1920, 1080)) -> None:
        if not path.parent.is_dir():
            raise OutputError(f"png output: directory {path.parent} does not exist")
        self.path = path
        self._size = blank_size
        self.frames = 0

    def show(self, frame: Image.Image) -> None:
        rgb = as_rgb(frame)
        self._size = rgb.size
        self._write(rgb)
        self.frames += 1

    def blank(self) -> None:
        self._write(Image.new("RGB", self._size, (0, 0, 0)))

    def _write(self, image: Image.Image) -> None:
        buf = io.BytesIO()
        # Low compression: a 960x160 ticker at several fps must not eat the CPU.
        image.save(buf, format="PNG", compress_level=1)
        atomic_write_bytes(self.path, buf.getvalue(), mode=0o644)

    def close(self) -> None:
        """Nothing held open; the last frame stays on disk on purpose."""
