"""Server-side typesetting aids computed once and shipped in the text: players need no NLP."""

from __future__ import annotations

import functools

from signage_core.languages import Language
from signage_core.render.segment import add_khmer_break_hints


@functools.lru_cache(maxsize=4096)
def with_break_marks(language: Language, text: str) -> str:
    """The text as screens get it: Khmer with ICU's U+200B word breaks, Vietnamese with U+00A0
    word joins; derived when compiled and previewed, so older captions get them too."""
    if language is Language.KM:
        return add_khmer_break_hints(text)
    if language is Language.VI:
        from signage_server.typesetting.vietnamese import add_vietnamese_joins  # loads a model

        return add_vietnamese_joins(text)
    return text
