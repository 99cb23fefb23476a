"""Splitting captions into unbreakable clusters and script runs, and ICU break hints for Khmer."""

from __future__ import annotations

import unicodedata

import regex

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


def drop_inner_hints(text: str) -> str:
    """The text without the U+200B that fall inside a syllable: the breaks the renderer obeys."""
    return str(_HINT_INSIDE_SYLLABLE.sub("", text))


def clusters(text: str) -> list[str]:
    """Units a line may never be broken inside: grapheme clusters merged into Khmer syllables."""
    out: list[str] = []
    text = drop_inner_hints(text)
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
    """Insert U+200B at ICU's Khmer dictionary line breaks (the benchmark's and goldens' baseline).

    Captions get their hints from render.breaks.add_break_hints, by the configured method.
    """
    from signage_core.render.breaks import icu_hints  # breaks builds on clusters() above

    return icu_hints(text, "km", "khmer")
