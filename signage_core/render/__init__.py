"""The multilingual LED renderer shared by server previews/validation and player playback."""

from signage_core.render.breaks import add_break_hints
from signage_core.render.draw import TickerStrip, background, clear_caches, frame_hash, render_slide
from signage_core.render.errors import CaptionError, Problem, ProblemCode, RenderError
from signage_core.render.fonts import FontRegistry, Script, default_registry, require_raqm
from signage_core.render.layout import SlideLayout, layout_slide
from signage_core.render.segment import add_khmer_break_hints, clusters
from signage_core.render.spec import ScreenSpec
from signage_core.render.validate import validate

__all__ = [
    "CaptionError",
    "FontRegistry",
    "Problem",
    "ProblemCode",
    "RenderError",
    "ScreenSpec",
    "Script",
    "SlideLayout",
    "TickerStrip",
    "add_break_hints",
    "add_khmer_break_hints",
    "background",
    "clear_caches",
    "clusters",
    "default_registry",
    "frame_hash",
    "layout_slide",
    "render_slide",
    "require_raqm",
    "validate",
]
