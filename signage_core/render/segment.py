"""Splitting captions into unbreakable clusters and script runs, and ICU break hints for Khmer."""

from __future__ import annotations

import unicodedata

import regex

from signage_core.render.errors import RenderError
from signage_core.text import ZWSP

COENG = "\u17d2"
_GRAPHEME = regex.compile(r"\X")


def is_khmer(ch: str) -> bool:
    cp = ord(ch)
    return 0x1780 <= cp <= 0x17FF or 0x19E0 <= cp <= 0x19FF


def is_khmer_consonant(ch: str) -> bool:
    return 0x1780 <= ord(ch) <= 0x17A2


def is_khmer_dependent(ch: str) -> bool:
    """Dependent vowels, signs and COENG: they belong to the syllable before them."""
    cp = ord(ch)
    return 0x17B4 <= cp <= 0x17D3 or cp == 0x17DD


# A break hint after a virama/COENG or a Thai/Lao pre-base vowel, or before a combining mark,
# would fall inside an orthographic syllable: such hints are dropped, never obeyed.
_HINT_INSIDE_SYLLABLE = regex.compile(
    r"(?<=[\u17d2\p{Logical_Order_Exception}\p{Indic_Syllabic_Category=Virama}])\u200b+"
    r"|\u200b+(?=[\p{M}\u17b4-\u17d3\u17dd])"
)


_PRE_BASE = regex.compile(r"\p{Logical_Order_Exception}")


def clusters(text: str) -> list[str]:
    """Units a line may never be broken inside: grapheme clusters merged into Khmer syllables."""
    out: list[str] = []
    text = _HINT_INSIDE_SYLLABLE.sub("", text)
    for cluster in _GRAPHEME.findall(text):
        if (
            out
            and (
                # UAX #29 may split after a COENG: the subscript consonant belongs to the syllable.
                out[-1].endswith(COENG)
                # Thai and Lao vowels written before their consonant belong to its syllable.
                or _PRE_BASE.match(out[-1][-1]) is not None
                # A stray dependent vowel or sign must not start a line either.
                or is_khmer_dependent(cluster[0])
                or unicodedata.category(cluster[0]) in ("Mn", "Mc", "Me")
            )
            and cluster not in (" ", ZWSP, "\n", "\t")
        ):
            out[-1] += cluster
        else:
            out.append(cluster)
    return out


def add_khmer_break_hints(text: str) -> str:
    """Insert U+200B at ICU's Khmer dictionary line breaks so players can wrap without ICU."""
    try:
        from icu4py.breakers import LineBreaker  # server-side only: players do not ship ICU
    except ImportError as exc:
        raise RenderError(
            "icu4py is not installed: Khmer break hints need ICU (install the server extra)"
        ) from exc
    if not any(is_khmer(ch) for ch in text):
        return text
    cluster_ends = set()
    position = 0
    for cluster in clusters(text):
        position += len(cluster)
        cluster_ends.add(position)
    out: list[str] = []
    last = 0
    for start, _end in LineBreaker(text, "km").segments():
        if start == 0:
            continue
        before, after = text[start - 1], text[start]
        # Only between two Khmer letters: spaces and existing hints already allow a break,
        # and a boundary inside an orthographic syllable would split a COENG sequence.
        if is_khmer(before) and is_khmer(after) and start in cluster_ends:
            out.append(text[last:start])
            out.append(ZWSP)
            last = start
    out.append(text[last:])
    return "".join(out)
