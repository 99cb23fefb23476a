"""Line-break hints (U+200B) per language, computed on the server so players need no dictionary.

One entry point, `add_break_hints(language, text)`, dispatches on the method languages.toml
names for the language. The renderer breaks only at spaces, newlines and these hints, so what
is stored here is where a line may end on the screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from signage_core.languages import LanguageInfo, info
from signage_core.render.errors import RenderError
from signage_core.render.fonts import script_pattern
from signage_core.render.segment import clusters
from signage_core.render.vietnamese import add_vietnamese_joins
from signage_core.text import ZWSP

# A caption that already holds U+200B carries its author's break points (a translator's edit,
# or a Khmer typist's habit); they are kept as they are, never recomputed over.
Hinter = Callable[[str, LanguageInfo], str]

# Chinese/Japanese line-start and line-end rules (kinsoku shori, as in JIS X 4051 / GB rules).
NO_LINE_START = frozenset(
    "，。、！？；：）」』》〉】〕］｝〗〙〛…‥·・ー～%％,.!?;:)]}›»”’"
    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々〻゠〜"
)
NO_LINE_END = frozenset("（「『《〈【〔［｛〖〘〚([{‹«“‘￥＄$£")


def add_break_hints(language: str, text: str) -> str:
    """The caption with U+200B where its language's configured method lets a line break."""
    config = info(language)
    if ZWSP in text and config.breaks != "vi-words":
        return text  # Vietnamese marks are per gap (a writer's "space + U+200B" beside computed joins)
    return HINTERS[config.breaks](text, config)


def _spaces(text: str, _config: LanguageInfo) -> str:
    """Languages written with spaces between words need no hints."""
    return text


def _letter_of(script: str) -> Callable[[str], bool]:
    pattern = script_pattern(script)
    return lambda ch: pattern.match(ch) is not None


def _insert(text: str, boundaries: Iterable[int], keep_whole: Iterable[str]) -> str:
    """Put U+200B at the boundaries that end an orthographic syllable and cut no kept word."""
    allowed = set()
    position = 0
    for cluster in clusters(text):
        position += len(cluster)
        allowed.add(position)
    for word in keep_whole:
        start = text.find(word)
        while start >= 0:
            allowed.difference_update(range(start + 1, start + len(word)))
            start = text.find(word, start + 1)
    out: list[str] = []
    last = 0
    for at in sorted(set(boundaries) & allowed):
        if 0 < at < len(text):
            out.append(text[last:at])
            out.append(ZWSP)
            last = at
    out.append(text[last:])
    return "".join(out)


def _between_letters(text: str, boundaries: Iterable[int], script: str) -> list[int]:
    """Only between two letters of the script: spaces and newlines already allow a break."""
    is_letter = _letter_of(script)
    return [at for at in boundaries
            if 0 < at < len(text) and is_letter(text[at - 1]) and is_letter(text[at])]


def icu_boundaries(text: str, locale: str) -> list[int]:
    """ICU's dictionary line-break opportunities (server side: players do not ship ICU)."""
    try:
        from icu4py.breakers import LineBreaker
    except ImportError as exc:
        raise RenderError(
            "icu4py is not installed: dictionary break hints need ICU (install the server extra)"
        ) from exc
    return [start for start, _end in LineBreaker(text, locale).segments() if start > 0]


def icu_hints(text: str, locale: str, script: str, keep_whole: Iterable[str] = ()) -> str:
    """U+200B at ICU's dictionary breaks between two letters of the script."""
    if not any(_letter_of(script)(ch) for ch in text):
        return text
    found = _between_letters(text, icu_boundaries(text, locale), script)
    return _insert(text, found, keep_whole)


def _icu(text: str, config: LanguageInfo) -> str:
    return icu_hints(text, config.code, config.script, config.keep_whole)


def khmer_nltk_boundaries(text: str) -> list[int]:
    """Word boundaries of khmer-nltk's CRF segmenter, as offsets into `text`."""
    try:
        from khmernltk import word_tokenize
    except ImportError as exc:
        raise RenderError(
            "khmer-nltk is not installed: Khmer break hints need it (install the server extra)"
        ) from exc
    found: list[int] = []
    position = 0
    for token in word_tokenize(text):
        # Tokens come back in order but without some separators (U+200B): find each one.
        start = text.find(token, position)
        if start < 0:
            raise RenderError(f"khmer-nltk returned {token!r}, which is not in the caption")
        found.extend((start, start + len(token)))
        position = start + len(token)
    return found


def _khmer_nltk(text: str, config: LanguageInfo) -> str:
    if not any(_letter_of(config.script)(ch) for ch in text):
        return text
    found = _between_letters(text, khmer_nltk_boundaries(text), config.script)
    return _insert(text, found, config.keep_whole)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        script_pattern("han").match(ch) is not None
        or 0x3000 <= cp <= 0x30FF  # CJK punctuation, kana
        or 0xFF00 <= cp <= 0xFFEF  # fullwidth forms
    )


def cjk_boundaries(text: str) -> list[int]:
    """Between any two characters where one is CJK, except before closing and after opening
    punctuation (a line never starts with `，。）」` nor ends with `（「`)."""
    found = []
    for at in range(1, len(text)):
        before, after = text[at - 1], text[at]
        if before.isspace() or after.isspace() or ZWSP in (before, after):
            continue
        if not (_is_cjk(before) or _is_cjk(after)):
            continue  # Latin words and numbers inside Chinese text stay whole
        if after in NO_LINE_START or before in NO_LINE_END:
            continue
        found.append(at)
    return found


def _cjk(text: str, config: LanguageInfo) -> str:
    return _insert(text, cjk_boundaries(text), config.keep_whole)


def _vi_words(text: str, _config: LanguageInfo) -> str:
    # Joins (U+00A0) rather than hints: Vietnamese has a space after every syllable, so what the
    # segmenter adds is where a line must NOT break (docs/architecture.md, "Line breaking").
    return add_vietnamese_joins(text)


# The methods languages.toml may name (signage_core.languages.BREAK_METHODS).
HINTERS: dict[str, Hinter] = {
    "spaces": _spaces,
    "vi-words": _vi_words,
    "icu": _icu,
    "khmer-nltk": _khmer_nltk,
    "cjk": _cjk,
}
