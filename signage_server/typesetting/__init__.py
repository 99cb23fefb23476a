"""Server-side typesetting aids computed once and shipped in the text: players need no NLP."""

from __future__ import annotations

import functools

from signage_core.render.breaks import add_break_hints


@functools.lru_cache(maxsize=4096)
def with_break_marks(language: str, text: str) -> str:
    """The text as screens get it: each language's break marks by its configured method (Khmer
    hints, Vietnamese word joins, ...); derived when compiled and previewed, never stored in the
    approved text, so older captions get them too. Cached: the segmenters cost ms per caption."""
    return add_break_hints(language, text)
