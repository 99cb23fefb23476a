"""One screen as the renderer draws it: the single translation from a stored layout to a ScreenSpec."""

from __future__ import annotations

from signage_core.manifest import LayoutSpec
from signage_core.render.spec import RGB, ScreenSpec


def screen_spec(layout: LayoutSpec, *, background: RGB = (0, 0, 0)) -> ScreenSpec:
    """The renderer's view of a layout: same size, layout, language order (as configured) and foreign ratio.

    Caption validation, the slide preview, the compiler's checks and the player all call this, so a screen
    set up as [vi, km, en] is drawn, previewed and rotated in that order everywhere.
    """
    return ScreenSpec(
        width=layout.width,
        height=layout.height,
        layout=layout.layout.value,
        languages=layout.languages,
        foreign_ratio=layout.foreign_size_ratio,
        background=background,
    )
