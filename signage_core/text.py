"""Caption text normalisation: store and compare NFC only."""

from __future__ import annotations

import unicodedata

ZWSP = "\u200b"  # a break hint (Khmer words, or a break the writer allows)
NBSP = "\u00a0"  # a join: the syllables or words either side stay on one line


def normalize_caption(text: str) -> str:
    """NFC with unified line endings and no stray outer whitespace; ZWSP break hints are kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text).strip(" \t\n")
