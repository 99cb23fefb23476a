"""Vietnamese word joins: U+00A0 between the syllables of one word, so no line splits a word.

Vietnamese writes a space after every syllable; only a word segmenter knows that "quốc tế" is one
word. The joins are computed here, on the server, and stored in the caption text, so a player
wraps at the remaining spaces without any NLP (see docs/architecture.md, "Line breaking").
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from signage_core.render.errors import RenderError
from signage_core.text import NBSP, ZWSP

log = logging.getLogger(__name__)

# Runs of capitalised syllables are names ("Hoa Lư", "Bù Gia Mập"); longer runs are title-cased
# headlines, not names, and are left to the segmenter.
_MAX_NAME_SYLLABLES = 4
_CONTEXT = ". "
_GAP = re.compile(f"([ {NBSP}{ZWSP}]+)")

Segmenter = Callable[[str], Sequence[str]]


def add_vietnamese_joins(text: str) -> str:
    """The caption with U+00A0 joining the syllables of each word and name; idempotent.

    A join already in the text stays; a space with U+200B beside it is a break the writer asked
    for and is never joined; newlines are kept.
    """
    return _joined(text, _underthesea())


def joined_with(text: str, segment: Segmenter) -> str:
    """add_vietnamese_joins with another segmenter (the benchmark compares them this way)."""
    return _joined(text, segment)


def _joined(text: str, segment: Segmenter) -> str:
    return "\n".join(_join_line(line, segment) for line in text.split("\n"))


def _join_line(line: str, segment: Segmenter) -> str:
    parts = _GAP.split(line)
    syllables, gaps = parts[0::2], parts[1::2]
    if len(syllables) < 2:
        return line
    plain = " ".join(syllables)
    # underthesea misses the first word of a text ("Quý khách", "Chung tay") but not after a
    # full stop: it reads the caption as a sentence after one, and that token is dropped.
    words = list(segment(_CONTEXT + plain))
    if words[:1] == [_CONTEXT.strip()]:
        words = words[1:]
    inside = word_gaps(plain, words)
    if inside is None:  # the segmenter changed the text: keep the writer's spaces rather than guess
        log.warning(
            "Vietnamese segmenter output does not match its input; no joins added: %r", line
        )
        inside = [False] * len(gaps)
    names = _name_gaps(syllables)
    known = _lexicon_gaps(syllables)
    out = [syllables[0]]
    for i, gap in enumerate(gaps):
        free = ZWSP not in gap and NBSP not in gap
        out.append(NBSP if free and (inside[i] or names[i] or known[i]) else gap)
        out.append(syllables[i + 1])
    return "".join(out)


def word_gaps(plain: str, words: Sequence[str]) -> list[bool] | None:
    """For each single space of `plain`, whether it falls inside one of `words` (in order).

    Segmenters mark words by spaces or underscores, may split off punctuation and may move a
    tone mark ("khoẻ" -> "khỏe"); their words are found in the text by their non-space letters
    without marks. None if they do not match the text.
    """
    plain_keys = [_bare(ch) for ch in plain]
    spaces = [i for i, ch in enumerate(plain) if ch == " "]
    inside = dict.fromkeys(spaces, False)
    pos = 0
    for word in words:
        chars = [_bare(ch) for ch in word.replace("_", " ") if not ch.isspace()]
        if not chars:
            continue
        while pos < len(plain) and plain[pos] == " ":
            pos += 1
        start = pos
        for ch in chars:
            while pos < len(plain) and plain[pos] == " " and pos > start:
                pos += 1
            if pos >= len(plain) or plain_keys[pos] != ch:
                return None
            pos += 1
        for space in spaces:
            if start < space < pos:
                inside[space] = True
    if any(not ch.isspace() for ch in plain[pos:]):
        return None
    return [inside[s] for s in spaces]


@functools.lru_cache(maxsize=1024)
def _bare(ch: str) -> str:
    """A letter without its marks, case-folded: what a segmenter cannot have changed."""
    return "".join(
        c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)
    ).casefold()


@functools.cache
def _lexicon() -> dict[str, list[tuple[str, ...]]]:
    """The hand-made word list, by first syllable, longest words first."""
    path = Path(__file__).with_name("vi_words.txt")
    words: dict[str, list[tuple[str, ...]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            syllables = tuple(line.split())
            words.setdefault(syllables[0], []).append(syllables)
    for entries in words.values():
        entries.sort(key=len, reverse=True)
    return words


def _lexicon_gaps(syllables: Sequence[str]) -> list[bool]:
    """Gaps inside a word of the hand-made list (matched in lower case, never across punctuation)."""
    lowered = [s.lower() for s in syllables]
    out = [False] * (len(syllables) - 1)
    i = 0
    while i < len(lowered):
        step = 1
        for entry in _lexicon().get(lowered[i], []):
            end = i + len(entry)
            if tuple(lowered[i:end]) == entry:
                for k in range(i, end - 1):
                    out[k] = True
                step = len(entry)
                break
        i += step
    return out


def _name_gaps(syllables: Sequence[str]) -> list[bool]:
    """Gaps between the syllables of a run of 2-4 capitalised syllables (a place or a name)."""
    caps = [_capitalised(s) for s in syllables]
    out = [False] * (len(syllables) - 1)
    i = 0
    while i < len(syllables):
        j = i
        while j + 1 < len(syllables) and caps[j] and caps[j + 1] and not _ends_phrase(syllables[j]):
            j += 1
        if 1 <= j - i < _MAX_NAME_SYLLABLES:
            for k in range(i, j):
                out[k] = True
        i = j + 1
    return out


def _capitalised(syllable: str) -> bool:
    letters = [ch for ch in syllable if unicodedata.category(ch)[0] == "L"]
    return bool(letters) and letters[0].isupper() and all(ch.islower() for ch in letters[1:])


def _ends_phrase(syllable: str) -> bool:
    return bool(syllable) and unicodedata.category(syllable[-1])[0] == "P"


# underthesea loads its model into a module global on the first call and is not thread-safe: two
# page requests at once (the preview and the editor's marks) saw a half-loaded model. One at a time.
_UNDERTHESEA = threading.Lock()


def _underthesea() -> Segmenter:
    """underthesea's word segmenter, imported on first use (it takes a second to load its model)."""
    try:
        from underthesea import word_tokenize  # server extra; chosen in docs/benchmarks.md
    except ImportError as exc:
        raise RenderError(
            "underthesea is not installed: Vietnamese word joins need it (install the server extra)"
        ) from exc

    def segment(text: str) -> Sequence[str]:
        with _UNDERTHESEA:
            return list(word_tokenize(text))

    return segment
