"""Output that only counts frames: the benchmark measures the player, not a display."""

from __future__ import annotations

from PIL import Image

from player_agent.output.base import as_rgb


class NullOutput:
    """Counts frames and blanks; keeps nothing but the last frame's size."""

    def __init__(self) -> None:
        self.frames = 0
        self.blanks = 0
        self.last_size: tuple[int, int] | None = None
        self.closed = False

    def show(self, frame: Image.Image) -> None:
        self.last_size = as_rgb(frame).size
        self.frames += 1

    def blank(self) -> None:
        self.blanks += 1

    def close(self) -> None:
        self.closed = True
