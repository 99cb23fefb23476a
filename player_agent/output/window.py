"""Borderless window on the HDMI output that the LED sending card captures, drawn with pygame (SDL2).

Why pygame/SDL rather than Tk: SDL draws without any X server through its kmsdrm driver
(Raspberry Pi OS Lite, no desktop), hides the cursor and keeps the screensaver off by
default, takes the window position from SDL_VIDEO_WINDOW_POS, blits a frame buffer in one
call, and is testable headless with SDL_VIDEODRIVER=dummy. Tk needs an X display, and a
PhotoImage round trip per frame would cost a 60 fps ticker most of a small CPU.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PIL import Image

from player_agent.output.base import OutputError, as_rgb

if TYPE_CHECKING:
    import pygame


class WindowOutput:
    """One borderless window of exactly the configured size at the configured position."""

    def __init__(self, *, x: int, y: int, width: int, height: int, display: int = 0) -> None:
        # SDL reads the position when the window is created; this process owns one window.
        os.environ["SDL_VIDEO_WINDOW_POS"] = f"{x},{y}"
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame
        except ImportError as exc:
            raise OutputError("window output needs pygame: pip install pygame") from exc
        self._pg = pygame
        try:
            pygame.display.init()
            self._screen: pygame.Surface = pygame.display.set_mode(
                (width, height), pygame.NOFRAME, display=display
            )
        except pygame.error as exc:
            raise OutputError(
                f"window output: cannot open a {width}x{height} window on display {display}: {exc}"
            ) from exc
        pygame.display.set_caption("signage-player")
        pygame.mouse.set_visible(False)
        self.size = (width, height)
        self.position = (x, y)

    def show(self, frame: Image.Image) -> None:
        rgb = as_rgb(frame)
        if rgb.size != self.size:
            raise OutputError(
                f"frame {rgb.width}x{rgb.height} does not match the window "
                f"{self.size[0]}x{self.size[1]}"
            )
        surface = self._pg.image.frombytes(rgb.tobytes(), rgb.size, "RGB")
        self._screen.blit(surface, (0, 0))
        self._present()

    def blank(self) -> None:
        self._screen.fill((0, 0, 0))
        self._present()

    def _present(self) -> None:
        self._pg.display.flip()
        # Drain events so the window manager never marks the player as hung.
        self._pg.event.pump()

    def screen_bytes(self) -> bytes:
        """What the window shows right now, as RGB bytes (screenshots, tests)."""
        return self._pg.image.tobytes(self._screen, "RGB")

    def cursor_visible(self) -> bool:
        return bool(self._pg.mouse.get_visible())

    def close(self) -> None:
        self._pg.display.quit()
