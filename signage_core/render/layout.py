"""Pure layout: captions -> fonts, sizes, lines and positions, without touching pixels."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import TypeVar

from signage_core.languages import Language, names
from signage_core.render.errors import CaptionError, Problem, ProblemCode
from signage_core.render.fonts import FontFace, FontRegistry, Script
from signage_core.render.segment import clusters
from signage_core.render.spec import ScreenSpec
from signage_core.text import NBSP, ZWSP, normalize_caption

LANGUAGE_NAMES = names("en")  # the renderer's messages are English; pages translate them


class _HomeScripts(Mapping[str, Script]):
    """Where a caption has no letter to decide by, its digits and punctuation follow its language."""

    def __getitem__(self, language: str) -> Script:
        return Script(Language(language).info.script)

    def __iter__(self) -> Iterator[str]:
        return iter(Language)

    def __len__(self) -> int:
        return len(Language)


HOME_SCRIPT = _HomeScripts()
_BESIDE_IMAGE_SHARE = 0.4
_GAP_SHARE = 0.25  # space between stacked language blocks, as a share of the lower block's size


class Kind(Enum):
    TEXT = "text"
    SPACE = "space"
    ZWSP = "zwsp"
    NEWLINE = "newline"


@dataclass(frozen=True, eq=False)
class Piece:
    """One unbreakable cluster and the font that draws it."""

    text: str
    kind: Kind
    face: FontFace | None
    script: Script


@dataclass(frozen=True, eq=False)
class Prepared:
    """A caption split into clusters with fonts chosen; independent of size, so computed once."""

    language: Language
    text: str
    pieces: tuple[Piece, ...]
    missing: tuple[str, ...]
    min_px: int
    faces: tuple[FontFace, ...]


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int
    screen: str = ""  # the screen it belongs to, "768×384", for messages


@dataclass(frozen=True, eq=False)
class Line:
    """One laid-out line; `consumed` is the break characters dropped after it (space, U+200B, newline)."""

    pieces: tuple[Piece, ...]
    width: float  # from the leftmost to the rightmost pixel it may touch
    consumed: str
    left: float = 0.0  # where that span starts relative to the pen position (<= 0)

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)


@dataclass(frozen=True, eq=False)
class Block:
    """One language's lines at one size, with the vertical metrics of the fonts it uses."""

    prepared: Prepared
    size: int
    lines: tuple[Line, ...]
    ascent: int
    descent: int

    @property
    def language(self) -> Language:
        return self.prepared.language

    @property
    def pitch(self) -> int:
        return self.ascent + self.descent

    @property
    def height(self) -> int:
        return self.pitch * len(self.lines)

    @property
    def ends_alone(self) -> bool:
        """More than one line and the last holds one lone syllable or word (a widow)."""
        return len(self.lines) > 1 and not any(
            p.kind in (Kind.SPACE, Kind.ZWSP) or p.text == NBSP for p in self.lines[-1].pieces
        )

    @property
    def breaks_inside_words(self) -> int:
        """Lines ending inside a word (one alone wider than the line): validation warns of them."""
        return sum(1 for line in self.lines[:-1] if line.consumed in ("", NBSP))


@dataclass(frozen=True)
class PlacedLine:
    line: Line
    x: int
    baseline: int


@dataclass(frozen=True, eq=False)
class PlacedBlock:
    block: Block
    lines: tuple[PlacedLine, ...]


@dataclass(frozen=True, eq=False)
class SlideLayout:
    """Everything needed to draw a slide; `blocks` are in display order."""

    spec: ScreenSpec
    box: Box
    image_box: Box | None
    blocks: tuple[PlacedBlock, ...]


def language_tag(language: Language) -> str:
    return language.value


@lru_cache(maxsize=256)
def prepare(caption: str, language: Language, registry: FontRegistry) -> Prepared:
    """Split a caption into clusters and give each the first font of its script's chain that has it."""
    text = normalize_caption(caption)
    raw = clusters(text)
    scripts: list[Script | None] = []
    for cluster in raw:
        scripts.append(
            next((s for ch in cluster if (s := registry.script_of(ch)) is not None), None)
        )
    # Digits, punctuation and spaces take the script of the letters before them (or after them).
    resolved: list[Script] = []
    previous: Script | None = None
    for i, script in enumerate(scripts):
        if script is None:
            script = previous or next((s for s in scripts[i + 1 :] if s is not None), None)
        resolved.append(script or HOME_SCRIPT[language])
        previous = resolved[-1] if scripts[i] is not None else previous
    pieces: list[Piece] = []
    missing: list[str] = []
    for cluster, script in zip(raw, resolved, strict=True):
        kind = _kind(cluster)
        face = None
        if kind in (Kind.TEXT, Kind.SPACE):
            face = registry.face_for(cluster, script)
            if face is None:
                missing.extend(ch for ch in cluster if not _any_face_covers(registry, script, ch))
                face = registry.chains[script][0]
        pieces.append(Piece(cluster, kind, face, script))
    text_scripts = {p.script for p in pieces if p.kind is Kind.TEXT} or {HOME_SCRIPT[language]}
    faces = tuple(
        dict.fromkeys(p.face for p in pieces if p.face is not None and p.kind is Kind.TEXT)
    )
    return Prepared(
        language=language,
        text=text,
        pieces=tuple(pieces),
        missing=tuple(dict.fromkeys(missing)),
        min_px=max(language.info.min_px, *(registry.min_px[s] for s in text_scripts)),
        faces=faces or (registry.chains[HOME_SCRIPT[language]][0],),
    )


def _any_face_covers(registry: FontRegistry, script: Script, ch: str) -> bool:
    return any(face.covers(ch) for face in registry.chains[script])


def _kind(cluster: str) -> Kind:
    if cluster == ZWSP:
        return Kind.ZWSP
    if cluster == "\n":
        return Kind.NEWLINE
    if cluster in (" ", "\t"):  # U+00A0 and U+202F are spaces that must not break
        return Kind.SPACE
    return Kind.TEXT


@lru_cache(maxsize=65536)
def _advance(face: FontFace, size: int, text: str, tag: str) -> float:
    return face.at(size).getlength(text, language=tag)


def runs(pieces: Sequence[Piece]) -> list[tuple[FontFace, str]]:
    """Consecutive pieces sharing a font, joined: each is shaped by HarfBuzz as one string."""
    out: list[tuple[FontFace, str]] = []
    for piece in pieces:
        if piece.face is None:
            continue
        if out and out[-1][0] is piece.face:
            out[-1] = (piece.face, out[-1][1] + piece.text)
        else:
            out.append((piece.face, piece.text))
    return out


def measure(pieces: Sequence[Piece], size: int, language: Language) -> float:
    tag = language_tag(language)
    return sum(_advance(face, size, text, tag) for face, text in runs(pieces))


def extent(pieces: Sequence[Piece], size: int, language: Language) -> tuple[float, float]:
    """Left and right edge of what a line occupies: its advance plus ink hanging past either end.

    Only the end clusters can overhang, so only they are measured for ink (getbbox is slow).
    """
    tag = language_tag(language)
    advance = measure(pieces, size, language)
    texts = [p for p in pieces if p.kind is Kind.TEXT and p.face is not None]
    if not texts:
        return 0.0, advance
    first, last = texts[0], texts[-1]
    assert first.face is not None and last.face is not None  # noqa: S101 - filtered above
    left = (
        min(0.0, float(_ink_x(first.face, size, first.text, tag)[0])) if pieces[0] is first else 0.0
    )
    right = advance
    if pieces[-1] is last:
        start_of_last = advance - _advance(last.face, size, last.text, tag)
        right = max(advance, start_of_last + _ink_x(last.face, size, last.text, tag)[1])
    return left, right


# How far a cluster's ink at one size may stray from its ink at the reference size, scaled:
# hinting and whole-pixel boxes moved edges by at most 1.2 px over every corpus cluster at
# 14-260 px (measured); a line within this of the box edge has its ink measured exactly.
_INK_SLACK_PX = 2.0
_INK_SLACK_SHARE = 0.02
# Likewise for advances: a word's advance scaled from the reference size was within 0.017 px
# per character of the real one (corpus, 14-260 px), and joining words at a space changed
# nothing; 15 times that per character, plus the ink slack for the join, is allowed.
_ADVANCE_SLACK_PER_CHAR = 0.25


def _ink_bound(pieces: Sequence[Piece], size: int, tag: str, slack: float) -> float:
    """At most how far the end clusters' ink can widen a line past its advance, at a size."""
    bound = 0.0
    first = pieces[0]
    if first.kind is Kind.TEXT and first.face is not None:
        bound += max(0.0, -_ink_em_x(first.face, first.text, tag)[0] * size) + slack
    last = pieces[-1]
    if last.kind is Kind.TEXT and last.face is not None:
        bound += max(0.0, _ink_em_x(last.face, last.text, tag)[1] * size) + slack
    return bound


@lru_cache(maxsize=65536)
def _ink_em_x(face: FontFace, text: str, tag: str) -> tuple[float, float]:
    """A cluster's ink left of the pen and past its advance, per pixel of size, at the reference."""
    font = face.at(_INK_REFERENCE_PX)
    left, _top, right, _bottom = font.getbbox(text, anchor="ls", language=tag)
    advance = font.getlength(text, language=tag)
    return left / _INK_REFERENCE_PX, (right - advance) / _INK_REFERENCE_PX


@lru_cache(maxsize=65536)
def _ink_x(face: FontFace, size: int, text: str, tag: str) -> tuple[int, int]:
    left, _top, right, _bottom = face.at(size).getbbox(text, anchor="ls", language=tag)
    return int(left), int(right)


class _TooManyLinesError(Exception):
    """Unwinds the greedy loop once the block is already taller than a fit probe allows."""


def wrap(
    prepared: Prepared,
    size: int,
    max_width: float,
    split_words: bool = True,
    max_lines: float = math.inf,
    widths: bool = True,
) -> list[Line] | None:
    """Greedy line breaking at spaces/U+200B/newlines, between clusters only for over-wide words.

    Returns None when a single cluster is wider than the box at this size, or any word is and
    `split_words` is off (auto-fit first looks for a size that keeps every word whole), or as
    soon as it would need more than `max_lines` lines (a fit probe that has already failed).
    Without `widths`, lines accepted on a bound get NaN for width and left: a fit probe only
    needs the breaks, and the size it settles on is laid out again with widths.
    """
    try:
        return _wrap(prepared, size, max_width, split_words, max_lines, True, widths)
    except _BoundMissedError:  # never seen; kept so a font that defeats the bound stays exact
        return _wrap(prepared, size, max_width, split_words, max_lines, False, True)


class _BoundMissedError(Exception):
    """A line accepted on the ink bound turned out wider than the box when measured exactly."""


def _wrap(
    prepared: Prepared,
    size: int,
    max_width: float,
    split_words: bool,
    max_lines: float,
    bounded: bool,
    widths: bool,
) -> list[Line] | None:
    """wrap(); `bounded` lets a candidate with room to spare skip measuring its end clusters' ink."""
    lang = prepared.language
    lines: list[Line] = []
    current: list[Piece] = []
    tag = language_tag(lang)
    slack = _INK_SLACK_PX + _INK_SLACK_SHARE * size
    trusted = False  # whether the line being built was accepted on the bound somewhere

    def fits(candidate: list[Piece]) -> bool:
        nonlocal trusted
        if bounded:
            advance = measure(candidate, size, lang)
            if advance > max_width:
                return False  # ink only ever widens a line past its advance
            if advance + _ink_bound(candidate, size, tag, slack) <= max_width:
                trusted = True
                return True
        left, right = extent(candidate, size, lang)
        return right - left <= max_width

    def flush(consumed: str) -> None:
        nonlocal trusted
        if len(lines) >= max_lines:
            raise _TooManyLinesError
        if trusted and not widths:  # a probe: the breaks are all it needs
            lines.append(Line(tuple(current), math.nan, consumed, math.nan))
            current.clear()
            trusted = False
            return
        left, right = extent(current, size, lang)
        if trusted and right - left > max_width:
            raise _BoundMissedError
        trusted = False
        lines.append(Line(tuple(current), right - left, consumed, left))
        current.clear()

    def place(start: list[Piece], word: list[Piece]) -> bool:
        if fits(start + word):
            current.extend(start + word)
            return True
        if not split_words and not fits(word):
            return False
        current.extend(start)
        # The word alone is too wide: break at its joins (U+00A0, between the syllables of a
        # long name), and only inside a syllable, between clusters, if one is still too wide.
        for k, part in enumerate(_split_at_joins(word)):
            joiner = [p for p in word if p.text == NBSP][:1] if k else []
            if current and fits(current + joiner + part):
                current.extend(joiner + part)
                continue
            if current:
                flush(NBSP if joiner else "")
            for piece in part:
                if current and not fits([*current, piece]):
                    flush("")
                if not fits([*current, piece]):
                    return False
                current.append(piece)
        return True

    # Per word: its advance (with the spaces before it) scaled from the reference size, so a
    # line far from either edge of the box is decided without shaping it again.
    scaled_words = iter(_words_em(prepared))
    line_advance: tuple[float, float] | None = None  # estimate and error of current, if known

    try:
        for separator, word in _words(prepared.pieces):
            sep_text = "".join(p.text for p in separator)
            spaces = [p for p in separator if p.kind is Kind.SPACE]
            if word:
                space_em, word_em, _forced = next(scaled_words)
            if current and word and bounded and not any(p.kind is Kind.NEWLINE for p in separator):
                base, error = line_advance or (measure(current, size, lang), 0.0)
                estimate = base + (space_em + word_em) * size
                chars = sum(len(p.text) for p in spaces) + sum(len(p.text) for p in word)
                error += _ADVANCE_SLACK_PER_CHAR * chars + slack
                if estimate - error > max_width:  # surely too wide, even before ink
                    line_advance = None
                    flush(sep_text)
                    if not place([], word):
                        return None
                    line_advance = None
                    continue
                if estimate + error + _ink_bound([current[0], word[-1]], size, tag, slack) <= (
                    max_width
                ):
                    trusted = True
                    current.extend(spaces + word)
                    line_advance = (estimate, error)
                    continue
            line_advance = None
            if not word:  # trailing break characters belong to the last line
                if current:
                    flush(sep_text)
                elif lines:
                    last = lines[-1]
                    lines[-1] = Line(last.pieces, last.width, last.consumed + sep_text, last.left)
                continue
            if any(p.kind is Kind.NEWLINE for p in separator):
                flush(sep_text)
                if not place([], word):
                    return None
                continue
            if current:
                if fits(current + spaces + word):
                    current.extend(spaces + word)
                    continue
                flush(sep_text)
                spaces = []
            elif not lines:
                spaces = [p for p in separator if p.kind is Kind.SPACE]
            if not place(spaces, word):
                return None
        if current or not lines:
            flush("")
    except _TooManyLinesError:
        return None
    return lines


def _split_at_joins(word: Sequence[Piece]) -> list[list[Piece]]:
    """A word's syllables between its U+00A0 joins (the joins themselves left out)."""
    parts: list[list[Piece]] = [[]]
    for piece in word:
        if piece.text == NBSP:
            parts.append([])
        else:
            parts[-1].append(piece)
    return [part for part in parts if part]


def _words(pieces: Sequence[Piece]) -> list[tuple[list[Piece], list[Piece]]]:
    """(separator before, word) pairs; the last pair may have an empty word (trailing breaks)."""
    out: list[tuple[list[Piece], list[Piece]]] = []
    separator: list[Piece] = []
    word: list[Piece] = []
    for piece in pieces:
        if piece.kind is Kind.TEXT:
            word.append(piece)
            continue
        if word:
            out.append((separator, word))
            separator, word = [], []
        separator.append(piece)
    if word or separator:
        out.append((separator, word))
    return out


# A multi-line paragraph ending in one lone syllable or word costs as much as a line this many
# box widths short: balancing avoids it whenever any other choice of breaks fits.
_LONE_LAST_PENALTY = 4.0
# A space is a stronger boundary than a U+200B hint (Khmer writes spaces between phrases, and a
# dictionary's hints can be wrong): a line ending at a hint costs as if this share of it were empty.
_HINT_BREAK_PENALTY = 0.5


def balance(prepared: Prepared, size: int, max_width: float, greedy: list[Line]) -> list[Line]:
    """The greedy lines re-broken, paragraph by paragraph, into as many lines of least raggedness.

    Driven only by the text's break opportunities (spaces, U+200B, newlines; U+00A0 joins), so
    every language gets it. The greedy line count is the fewest that fit, so the block keeps its
    height and the size the fit search chose; a paragraph the greedy pass had to break inside a
    word, or whose balanced lines would not fit exactly, keeps its greedy lines.
    """
    out: list[Line] = []
    start = 0
    ems = iter(_words_em(prepared))  # one entry per word, in the same order as the paragraphs'
    for paragraph in _paragraphs(prepared.pieces):
        scaled = [next(ems) for _word in paragraph]
        end = start
        while end < len(greedy) - 1 and "\n" not in greedy[end].consumed:
            end += 1
        lines = greedy[start : end + 1]
        start = end + 1
        balanced = None
        if len(lines) > 1 and all(line.consumed for line in lines[:-1]):
            balanced = _balanced(prepared, size, max_width, paragraph, scaled, lines)
        out.extend(balanced or lines)
    out.extend(greedy[start:])  # never expected: paragraphs and greedy lines always pair up
    return out


def _paragraphs(pieces: Sequence[Piece]) -> list[list[tuple[list[Piece], list[Piece]]]]:
    """The (separator, word) pairs of each paragraph, split at forced line breaks."""
    out: list[list[tuple[list[Piece], list[Piece]]]] = []
    for separator, word in _words(pieces):
        if not word:
            continue
        if not out or any(p.kind is Kind.NEWLINE for p in separator):
            out.append([])
        out[-1].append((separator, word))
    return out


def _balanced(
    prepared: Prepared,
    size: int,
    max_width: float,
    words: list[tuple[list[Piece], list[Piece]]],
    scaled: list[tuple[float, float, bool]],
    greedy: list[Line],
) -> list[Line] | None:
    """Least squared slack over as many lines as `greedy` (minimum raggedness, by dynamic
    programming); None to keep the greedy lines.

    Candidate lines are judged on widths scaled from the reference size with the fast path's
    error allowances (no shaping); only the chosen lines are measured exactly.
    """
    lang, count = prepared.language, len(greedy)
    margin = 2 * (_INK_SLACK_PX + _INK_SLACK_SHARE * size)  # ink past either end, as wrap allows
    n = len(words)
    word_w = [word_em * size for _space_em, word_em, _forced in scaled]
    space_w = [space_em * size for space_em, _word_em, _forced in scaled]
    chars = [sum(len(p.text) for p in sep + word) for sep, word in words]
    lone = [not any(p.text == NBSP for p in word) for _sep, word in words]
    hint_cost = (_HINT_BREAK_PENALTY * max_width) ** 2
    # hinted[i]: a line ending before words[i] ends at a U+200B hint rather than a space
    hinted = [i < n and not any(p.kind is Kind.SPACE for p in words[i][0]) for i in range(n + 1)]
    # The greedy lines were measured exactly and fit: the estimate below must never rule them out
    # (its allowances are conservative), or a space break could lose to a worse one at a hint.
    measured = _greedy_spans(words, greedy)
    inf = math.inf
    # cost[m][j]: least cost of words[:j] in m lines; back[m][j]: where the last of them starts
    cost = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    cost[0][0] = 0.0
    def consider(i: int, j: int, width: float) -> None:
        line_cost = (max_width - min(width, max_width)) ** 2
        if j == n and i == n - 1 and lone[i]:
            line_cost += _LONE_LAST_PENALTY * max_width**2
        if hinted[j]:
            line_cost += hint_cost
        for m in range(1, count + 1):
            if cost[m - 1][i] + line_cost < cost[m][j]:
                cost[m][j] = cost[m - 1][i] + line_cost
                back[m][j] = i

    for j in range(1, n + 1):
        width, count_chars = 0.0, 0
        for i in range(j - 1, -1, -1):  # the line holding words[i:j], grown leftwards
            width += space_w[i + 1] + word_w[i] if i + 1 < j else word_w[i]
            count_chars += chars[i]
            if width + margin + _ADVANCE_SLACK_PER_CHAR * count_chars > max_width:
                break
            consider(i, j, width)
        for (i, end), exact in measured.items():
            if end == j:
                consider(i, j, exact)
    if cost[count][n] == inf:
        return None
    starts, j = [], n
    for m in range(count, 0, -1):
        starts.append(back[m][j])
        j = back[m][j]
    starts.reverse()
    chosen = []
    for k, i in enumerate(starts):
        j = starts[k + 1] if k + 1 < len(starts) else n
        pieces: list[Piece] = list(words[i][1])
        for sep, word in words[i + 1 : j]:
            pieces += [p for p in sep if p.kind is Kind.SPACE] + word
        chosen.append((pieces, j))
    if [len(pieces) for pieces, _j in chosen] == [len(line.pieces) for line in greedy]:
        return None  # the greedy breaks were already the most even: keep their measured lines
    lines = []
    for pieces, j in chosen:
        left, right = extent(pieces, size, lang)
        if right - left > max_width:
            return None
        consumed = "".join(p.text for p in words[j][0]) if j < n else greedy[-1].consumed
        lines.append(Line(tuple(pieces), right - left, consumed, left))
    return lines


def _greedy_spans(
    words: list[tuple[list[Piece], list[Piece]]], greedy: list[Line]
) -> dict[tuple[int, int], float]:
    """(first word, end word) of each greedy line -> its measured width; empty if they do not pair up."""
    spans: dict[tuple[int, int], float] = {}
    i = 0
    for line in greedy:
        if i >= len(words):
            return {}
        j, count = i + 1, len(words[i][1])
        while count < len(line.pieces) and j < len(words):
            count += sum(1 for p in words[j][0] if p.kind is Kind.SPACE) + len(words[j][1])
            j += 1
        if count != len(line.pieces):
            return {}
        spans[(i, j)] = line.width
        i = j
    return spans if i == len(words) else {}


@lru_cache(maxsize=4096)
def _metrics(face: FontFace, size: int) -> tuple[int, int]:
    ascent, descent = face.at(size).getmetrics()
    return int(ascent), int(descent)


def block_at(
    prepared: Prepared,
    size: int,
    max_width: float,
    split_words: bool = True,
    max_height: float = math.inf,
    widths: bool = True,
) -> Block | None:
    """The caption wrapped at a size; None if it cannot be, or would be taller than max_height."""
    ascent, descent = vertical(prepared, size)
    pitch = ascent + descent
    max_lines = max_height // pitch if pitch > 0 and math.isfinite(max_height) else math.inf
    lines = wrap(prepared, size, max_width, split_words, max_lines, widths)
    if lines is None:
        return None
    if widths and len(lines) > 1:  # fit probes only count lines; the final layout is balanced
        lines = balance(prepared, size, max_width, lines)
    return Block(prepared, size, tuple(lines), ascent, descent)


def vertical(prepared: Prepared, size: int) -> tuple[int, int]:
    """Ascent and descent of the caption's lines at a size: font metrics or ink, whichever is more.

    Stacked Vietnamese capitals and Khmer double subscripts reach past the font's own
    ascent/descent, so the ink decides and no line touches its neighbour or leaves the box.
    Ink scales with size; +1 px absorbs hinting, so one measurement serves every size.
    """
    metrics = [_metrics(face, size) for face in prepared.faces]
    ink_ascent, ink_descent = _ink_em(prepared)
    # Hinting can still push ink a pixel past the scaled estimate ('Ớ' at 47 px: 49 vs 48), so the
    # exact ink at this size has the last word; it only ever raises the estimate.
    exact_ascent, exact_descent = _ink_at(prepared, size)
    ascent = max([m[0] for m in metrics] + [math.ceil(ink_ascent * size) + 1, exact_ascent])
    descent = max([m[1] for m in metrics] + [math.ceil(ink_descent * size) + 1, exact_descent])
    return ascent, descent


@lru_cache(maxsize=4096)
def _ink_at(prepared: Prepared, size: int) -> tuple[int, int]:
    """How far the caption's ink reaches above and below the baseline at exactly this size."""
    tag = language_tag(prepared.language)
    above = below = 0
    for face, text in runs([p for p in prepared.pieces if p.kind is Kind.TEXT]):
        _left, top, _right, bottom = face.at(size).getbbox(text, anchor="ls", language=tag)
        above, below = max(above, -int(top)), max(below, int(bottom))
    return above, below


_INK_REFERENCE_PX = 256


@lru_cache(maxsize=1024)
def _ink_em(prepared: Prepared) -> tuple[float, float]:
    """How far the caption's ink reaches above and below the baseline, per pixel of font size."""
    tag = language_tag(prepared.language)
    above = below = 0
    for face, text in runs([p for p in prepared.pieces if p.kind is Kind.TEXT]):
        _left, top, _right, bottom = face.at(_INK_REFERENCE_PX).getbbox(
            text, anchor="ls", language=tag
        )
        above, below = max(above, -int(top)), max(below, int(bottom))
    return above / _INK_REFERENCE_PX, below / _INK_REFERENCE_PX


def largest_size(lo: int, hi: int, ok: Callable[[int], bool], guess: int | None = None) -> int | None:
    """Largest size in [lo, hi] that `ok` accepts, assuming bigger text never fits better.

    Each probe lays the text out for real, so start at an estimate and gallop from there.
    """
    if hi < lo:
        return None
    start = min(max(guess if guess is not None else lo, lo), hi)
    if not ok(start):
        if start == lo:
            return None
        hi = start - 1
        if not ok(lo):
            return None
        start = lo
    step = 1
    while start + step <= hi and ok(start + step):
        start += step
        step *= 2
    hi = min(hi, start + step - 1)
    while start < hi:  # ok(start) holds; the answer lies in [start, hi]
        mid = (start + hi + 1) // 2
        if ok(mid):
            start = mid
        else:
            hi = mid - 1
    return start


@lru_cache(maxsize=1024)
def _words_em(prepared: Prepared) -> tuple[tuple[float, float, bool], ...]:
    """(space before, word width, forced break before) per word, per pixel of font size."""
    ref, lang = _INK_REFERENCE_PX, prepared.language
    out = []
    for separator, word in _words(prepared.pieces):
        if word:
            spaces = [p for p in separator if p.kind is Kind.SPACE]
            forced = any(p.kind is Kind.NEWLINE for p in separator)
            out.append((measure(spaces, ref, lang) / ref, measure(word, ref, lang) / ref, forced))
    return tuple(out)


def _estimated_height(prepared: Prepared, size: int, max_width: float) -> float:
    """Block height from widths scaled off one measurement: only a starting point for the search."""
    lines, width, started = 0, 0.0, False
    for space_em, word_em, forced in _words_em(prepared):
        space, word = space_em * size, word_em * size
        if started and not forced and width + space + word <= max_width:
            width += space + word
            continue
        pieces = max(1, math.ceil(word / max_width)) if max_width > 0 else 1
        lines += pieces
        width = word - (pieces - 1) * max_width
        started = True
    ref = _INK_REFERENCE_PX
    ascent_em = max(_metrics(face, ref)[0] for face in prepared.faces) / ref
    descent_em = max(_metrics(face, ref)[1] for face in prepared.faces) / ref
    ink_ascent, ink_descent = _ink_em(prepared)
    pitch = size * (max(ascent_em, ink_ascent) + max(descent_em, ink_descent)) + 2
    return max(lines, 1) * pitch


def _estimate(lo: int, hi: int, height: Callable[[int], float], limit: int) -> int:
    """Largest size whose estimated height is within the limit (pure arithmetic, no shaping)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if height(mid) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def size_factors(languages: Sequence[Language], ratio: float) -> list[float]:
    """Vietnamese at full size, foreign languages at `ratio` of it (Art. 18(2)); no Vietnamese: all 1."""
    has_vi = Language.VI in languages
    return [ratio if has_vi and lang is not Language.VI else 1.0 for lang in languages]


def scaled(size: int, factor: float) -> int:
    # A hair of slack so 0.75 * 24 stays 18 despite floating point.
    return math.floor(size * factor + 1e-9)


def smallest_primary(preps: Sequence[Prepared], factors: Sequence[float]) -> int:
    """The smallest full size at which every block still reaches its script's legible minimum."""
    size = max(p.min_px for p in preps)
    while any(scaled(size, f) < p.min_px for p, f in zip(preps, factors, strict=True)):
        size += 1
    return size


def gap(size: int) -> int:
    return round(_GAP_SHARE * size)


def text_box(spec: ScreenSpec, has_image: bool) -> tuple[Box, Box | None]:
    m, label = spec.margin, spec.size_label
    if has_image and spec.image_mode == "beside" and spec.layout != "ticker":
        image_w = round(spec.width * _BESIDE_IMAGE_SHARE)
        box = Box(image_w + m, m, spec.width - image_w - 2 * m, spec.height - 2 * m, label)
        return box, Box(0, 0, image_w, spec.height)
    image = Box(0, 0, spec.width, spec.height) if has_image else None
    return Box(m, m, spec.width - 2 * m, spec.height - 2 * m, label), image


def stack(
    preps: Sequence[Prepared],
    sizes: Sequence[int],
    box: Box,
    split_words: bool = True,
    widths: bool = True,
) -> list[Block] | None:
    """The blocks at these sizes if together they fit the box, else None."""
    blocks = []
    # Gaps depend on sizes alone, so each block knows the height left for it before wrapping
    # and a failing probe stops at its first surplus line instead of wrapping everything.
    room = box.height - sum(gap(size) for size in sizes[1:])
    for prep, size in zip(preps, sizes, strict=True):
        block = block_at(prep, size, box.width, split_words, max_height=room, widths=widths)
        if block is None:
            return None
        room -= block.height
        blocks.append(block)
    return blocks if room >= 0 else None


def fit_stacked(preps: Sequence[Prepared], box: Box, ratio: float) -> list[Block]:
    """Largest sizes where all languages fit stacked, foreign ones at `ratio` of the Vietnamese."""
    factors = size_factors([p.language for p in preps], ratio)
    lo = smallest_primary(preps, factors)

    def sizes(s: int) -> list[int]:
        return [scaled(s, f) for f in factors]

    hi = max(lo, box.height)

    def estimated(s: int) -> float:
        heights = [
            _estimated_height(p, size, box.width) for p, size in zip(preps, sizes(s), strict=True)
        ]
        return sum(heights) + sum(gap(size) for size in sizes(s)[1:])

    guess = _estimate(lo, hi, estimated, box.height)
    # Probes need only line breaks; the size found is laid out again with exact widths (its
    # shaping is cached by then). Should that ever disagree, every probe is redone with widths.
    for widths in (False, True):
        # Breaking inside a word is the last resort: only when no legible size keeps words whole.
        for split in (False, True):

            def ok(s: int, split: bool = split, widths: bool = widths) -> bool:
                return stack(preps, sizes(s), box, split, widths) is not None

            best = largest_size(lo, hi, ok, guess)
            if best is not None:
                blocks = stack(preps, sizes(best), box, split)
                if blocks is None:
                    break
                if len(preps) > 1:  # see _LONE_SHRINK_SHARE
                    return blocks

                def again(s: int, split: bool = split) -> list[Block] | None:
                    return stack(preps, sizes(s), box, split)

                return _avoiding_lone_ends(blocks, again, best, lo, _any_alone)
    raise CaptionError(_blame_stacked(preps, sizes(lo), box))


# A lone last syllable is worth up to this share of the size: a few pixels smaller, if that
# lets balanced lines end with two words, reads better (one step at a time, never below `lo`).
# Only for a caption alone in its box: in a stacked slide every language would shrink for one
# block's last word, and each step lays out all of them again (8 steps took 400 ms at 1080p).
_LONE_SHRINK_SHARE = 0.1
_T = TypeVar("_T")


def _any_alone(found: Block | list[Block]) -> bool:
    return found.ends_alone if isinstance(found, Block) else any(b.ends_alone for b in found)


def _avoiding_lone_ends(
    found: _T, at: Callable[[int], _T | None], size: int, lo: int, lone: Callable[[_T], bool]
) -> _T:
    """`found` (laid out at `size`), or the same at the largest slightly smaller size without a
    lone last syllable; only layouts that end alone pay for the extra probes."""
    if not lone(found):
        return found
    for smaller in range(size - 1, max(lo, math.floor(size * (1 - _LONE_SHRINK_SHARE))) - 1, -1):
        other = at(smaller)
        if other is not None and not lone(other):
            return other
    return found


def _blame_stacked(preps: Sequence[Prepared], sizes: Sequence[int], box: Box) -> list[Problem]:
    """Name the languages that take more than their share of the screen at the smallest sizes."""
    gaps = sum(gap(s) for s in sizes[1:])
    blocks = [block_at(p, s, box.width) for p, s in zip(preps, sizes, strict=True)]
    pitches = [pitch_at(p, s) for p, s in zip(preps, sizes, strict=True)]
    problems = []
    for prep, size, block, pitch in zip(preps, sizes, blocks, pitches, strict=True):
        share = (box.height - gaps) * pitch / sum(pitches)
        if block is None or block.height > share:
            problems.append(does_not_fit(prep, size, box, block, int(share // pitch), "stacked"))
    return problems or [
        does_not_fit(p, s, box, b, None, "stacked")
        for p, s, b in zip(preps, sizes, blocks, strict=True)
    ]


def pitch_at(prep: Prepared, size: int) -> int:
    """Line pitch of the caption at a size, exactly as block_at would use it."""
    return sum(vertical(prep, size))


def does_not_fit(
    prep: Prepared, size: int, box: Box, block: Block | None, lines_allowed: int | None, layout: str
) -> Problem:
    name = LANGUAGE_NAMES[prep.language]
    if block is None:
        detail = "a single letter group is wider than the screen"
    elif lines_allowed is not None:
        detail = f"it needs {len(block.lines)} lines but there is room for {max(lines_allowed, 0)}"
    else:
        detail = f"it needs {len(block.lines)} lines"
    return Problem(
        ProblemCode.DOES_NOT_FIT,
        f"The {name} caption does not fit the {box.screen} screen ({layout} layout, text area "
        f"{box.width}×{box.height} px) even at the smallest legible size, {size} px: {detail}. "
        "Please shorten it.",
        prep.language,
    )


def fit_single(prep: Prepared, box: Box, layout: str) -> Block:
    """The largest size at which one caption fits the box alone (a rotate frame)."""

    lo, hi = prep.min_px, max(prep.min_px, box.height)
    guess = _estimate(lo, hi, lambda s: _estimated_height(prep, s, box.width), box.height)
    # As in fit_stacked: probes need only breaks, the answer is laid out again with widths.
    for widths in (False, True):
        for split in (False, True):  # keep words whole if any legible size allows it

            def ok(size: int, split: bool = split, widths: bool = widths) -> bool:
                found = block_at(prep, size, box.width, split, box.height, widths)
                return found is not None

            best = largest_size(lo, hi, ok, guess)
            if best is not None:
                block = block_at(prep, best, box.width, split, max_height=box.height)
                if block is not None:

                    def again_single(s: int, split: bool = split) -> Block | None:
                        return block_at(prep, s, box.width, split, box.height)

                    return _avoiding_lone_ends(block, again_single, best, lo, _any_alone)
                break
    block = block_at(prep, prep.min_px, box.width)
    allowed = box.height // pitch_at(prep, prep.min_px)
    raise CaptionError([does_not_fit(prep, prep.min_px, box, block, allowed, layout)])


def place(blocks: Sequence[Block], box: Box) -> tuple[PlacedBlock, ...]:
    """Centre each line, and the whole stack vertically, inside the box."""
    total = sum(b.height for b in blocks) + sum(gap(b.size) for b in blocks[1:])
    top = box.top + (box.height - total) // 2
    placed = []
    for i, block in enumerate(blocks):
        if i:
            top += gap(block.size)
        lines = []
        for line in block.lines:
            x = box.left + round((box.width - line.width) / 2 - line.left)
            lines.append(PlacedLine(line, x, top + block.ascent))
            top += block.pitch
        placed.append(PlacedBlock(block, tuple(lines)))
    return tuple(placed)


def present(spec: ScreenSpec, captions: Mapping[Language, str]) -> list[Language]:
    """The screen's languages that have a non-empty caption, in display order."""
    return [lang for lang in spec.languages if normalize_caption(captions.get(lang, ""))]


def check_glyphs(preps: Sequence[Prepared]) -> None:
    problems = [p for prep in preps for p in missing_glyph_problems(prep)]
    if problems:
        raise CaptionError(problems)


def missing_glyph_problems(prep: Prepared) -> list[Problem]:
    name = LANGUAGE_NAMES[prep.language]
    return [
        Problem(
            ProblemCode.MISSING_GLYPH,
            f"The {name} caption contains the character “{ch}” (U+{ord(ch):04X}, "
            f"{_char_name(ch)}) that no screen font can draw. Please replace or remove it.",
            prep.language,
        )
        for ch in prep.missing
    ]


def _char_name(ch: str) -> str:
    import unicodedata

    return unicodedata.name(ch, "unnamed character")


def layout_slide(
    spec: ScreenSpec,
    captions: Mapping[Language, str],
    registry: FontRegistry,
    *,
    has_image: bool = False,
    language: Language | None = None,
) -> SlideLayout:
    """Lay out a stacked slide or one rotate frame; raises CaptionError naming what does not fit."""
    key = tuple((lang, captions[lang]) for lang in Language if lang in captions)
    return _layout_cached(spec, key, registry, has_image, language)


@lru_cache(maxsize=128)
def _layout_cached(
    spec: ScreenSpec,
    caption_items: tuple[tuple[Language, str], ...],
    registry: FontRegistry,
    has_image: bool,
    language: Language | None,
) -> SlideLayout:
    """Fitting is a search over sizes; a player shows the same slides again and again."""
    captions = dict(caption_items)
    box, image_box = text_box(spec, has_image)
    languages = present(spec, captions)
    if spec.layout == "rotate":
        if language is None:
            language = languages[0] if languages else spec.languages[0]
        if language not in languages:
            raise CaptionError(
                [
                    Problem(
                        ProblemCode.EMPTY,
                        f"No {LANGUAGE_NAMES[language]} caption to show.",
                        language,
                    )
                ]
            )
        languages = [language]
    elif spec.layout == "ticker":
        raise ValueError("a ticker is drawn by TickerStrip, not laid out as a slide")
    preps = [prepare(captions[lang], lang, registry) for lang in languages]
    check_glyphs(preps)
    if not preps:
        return SlideLayout(spec, box, image_box, ())
    if spec.layout == "rotate":
        blocks = [fit_single(preps[0], box, "rotate")]
    else:
        blocks = fit_stacked(preps, box, spec.foreign_ratio)
    return SlideLayout(spec, box, image_box, place(blocks, box))
