"""What can go wrong when a caption meets a screen, in words a translator understands."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from signage_core.languages import Language


class ProblemCode(StrEnum):
    MISSING_GLYPH = "missing_glyph"
    DOES_NOT_FIT = "does_not_fit"
    TOO_SMALL = "too_small"
    EMPTY = "empty"
    # The readability check (signage_server.slides.readability): warnings at preview, refusals at approval.
    UNREADABLE_AT_DISTANCE = "unreadable_at_distance"
    TOO_LONG_TO_READ = "too_long_to_read"


@dataclass(frozen=True)
class Problem:
    """One reason a caption cannot be shown as approved; the server shows `message` to translators."""

    code: ProblemCode
    message: str
    language: Language


class RenderError(Exception):
    """The renderer cannot do its job at all (no raqm, no usable font, bad fonts.toml)."""


class CaptionError(RenderError):
    """A caption that cannot be drawn on this screen; carries the problems validate() would report."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))
