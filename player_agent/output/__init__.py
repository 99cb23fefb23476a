"""Where frames go: window, framebuffer, png or null, chosen by settings, plus off-hours blanking."""

from __future__ import annotations

from player_agent.config import OutputKind, PlayerSettings
from player_agent.output.base import Output, OutputError
from player_agent.output.blanking import BlankingOutput


def open_output(settings: PlayerSettings) -> Output:
    """Build the configured output; device problems surface here, at start, by name."""
    kind = settings.output
    if kind is OutputKind.PNG:
        from player_agent.output.png import PngOutput

        window = settings.window
        return PngOutput(settings.png_path, blank_size=(window.width, window.height))
    if kind is OutputKind.NULL:
        from player_agent.output.null import NullOutput

        return NullOutput()
    if kind is OutputKind.FRAMEBUFFER:
        from player_agent.output.framebuffer import FramebufferOutput

        fb = settings.framebuffer
        return FramebufferOutput(fb.device, sysfs_root=fb.sysfs_root, x=fb.x, y=fb.y)
    from player_agent.output.window import WindowOutput

    w = settings.window
    return WindowOutput(x=w.x, y=w.y, width=w.width, height=w.height, display=w.display)


def open_blanking_output(settings: PlayerSettings) -> BlankingOutput:
    """The configured output behind the off-hours switch the playback loop drives."""
    return BlankingOutput(open_output(settings), settings.blanking)


__all__ = ["BlankingOutput", "Output", "OutputError", "open_blanking_output", "open_output"]
