"""Server-side typesetting aids computed once and shipped in the text: players need no NLP."""

from __future__ import annotations

import functools
import logging
import threading

from signage_core.languages import info, language_order
from signage_core.render.breaks import add_break_hints

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4096)
def with_break_marks(language: str, text: str) -> str:
    """The text as screens get it: each language's break marks by its configured method (Khmer
    hints, Vietnamese word joins, ...); derived when compiled and previewed, never stored in the
    approved text, so older captions get them too. Cached: the segmenters cost ms per caption."""
    return add_break_hints(language, text)


def warm() -> None:
    """Load the configured languages' word segmenters now, each on its language's own name.

    Loading them takes ~3 s of CPU (scikit-learn, the Vietnamese and Khmer models); done lazily, the
    first caption preview or the first approval after a restart waited for it (issue 17).
    """
    for language in language_order():
        try:
            with_break_marks(language.value, info(language).native)
        except Exception:  # reported again, to the person, where the hints are needed
            log.exception("could not load the line-break method of %s", language.value)


def warm_in_background() -> threading.Thread:
    thread = threading.Thread(target=warm, name="typesetting-warm", daemon=True)
    thread.start()
    return thread
