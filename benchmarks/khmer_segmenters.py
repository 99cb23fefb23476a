"""Khmer break hints: ICU's dictionary against khmer-nltk's CRF segmenter, on the same corpus.

Run: .venv/bin/python benchmarks/khmer_segmenters.py  (prints the figures in docs/benchmarks.md)

A hint is a place a line may end on a screen. Counted per method, over benchmarks/data/
khmer_public_info.txt (432 sentences, '|' marking the reference words): hints that fall inside
a reference word (cut words) per 1,000 hints, the share of reference word boundaries that got a
hint (a method offering no breaks would cut nothing and wrap nothing), whether the issue's three
words are ever cut, and the time per sentence.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from signage_core.languages import info
from signage_core.render.breaks import add_break_hints
from signage_core.render.segment import add_khmer_break_hints
from signage_core.text import ZWSP

CORPUS = Path(__file__).resolve().parent / "data" / "khmer_public_info.txt"
WATCHED = ("ខេត្ត", "ជាតិ", "ប៊ិញភឿក")


def load() -> list[list[str]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line.split("|") for line in lines if line and not line.startswith("#")]


def hint_offsets(hinted: str) -> set[int]:
    """Positions of U+200B as offsets into the text without them."""
    found, at = set(), 0
    for ch in hinted:
        if ch == ZWSP:
            found.add(at)
        else:
            at += 1
    return found


def measure(name: str, hinter: Callable[[str], str], corpus: list[list[str]]) -> dict[str, object]:
    hints = cuts = boundaries = hit = 0
    watched_cut = dict.fromkeys(WATCHED, 0)
    cut_by_word: Counter[str] = Counter()
    seconds: list[float] = []
    for words in corpus:
        text = "".join(words)
        start = time.perf_counter()
        hinted = hinter(text)
        seconds.append(time.perf_counter() - start)
        got = hint_offsets(hinted)
        inside: set[int] = set()
        edges: set[int] = set()
        at = 0
        for word in words:
            inside.update(range(at + 1, at + len(word)))
            at += len(word)
            edges.add(at)
        edges.discard(at)
        edges = {e for e in edges if text[e] != "។"}  # a line may end before ។ but need not
        hints += len(got)
        cuts += len(got & inside)
        boundaries += len(edges)
        hit += len(got & edges)
        at = 0
        for word in words:
            if got & set(range(at + 1, at + len(word))):
                cut_by_word[word] += 1
                if word in watched_cut:
                    watched_cut[word] += 1
            at += len(word)
    return {
        "method": name,
        "sentences": len(corpus),
        "hints": hints,
        "cut_words_per_1000_hints": round(1000 * cuts / hints, 1) if hints else 0.0,
        "word_boundaries_hinted_percent": round(100 * hit / boundaries, 1),
        "watched_words_cut": watched_cut,
        "most_cut": cut_by_word.most_common(6),
        "median_ms_per_sentence": round(1000 * statistics.median(seconds), 3),
    }


def main() -> None:
    logging.getLogger("khmer-nltk").setLevel(logging.WARNING)
    corpus = load()
    km = info("km")
    add_break_hints("km", "សូម")  # load the CRF model before timing (about 3 s, once per process)
    rows = [
        measure("ICU dictionary (before)", add_khmer_break_hints, corpus),
        measure("khmer-nltk CRF", lambda text: _raw_nltk(text), corpus),
        measure(f"khmer-nltk + keep_whole {list(km.keep_whole)} (shipped)",
                lambda text: add_break_hints("km", text), corpus),
    ]
    for row in rows:
        print(row)


def _raw_nltk(text: str) -> str:
    """khmer-nltk's boundaries alone, without languages.toml's keep_whole names."""
    from signage_core.render import breaks

    found = breaks._between_letters(text, breaks.khmer_nltk_boundaries(text), "khmer")
    return breaks._insert(text, found, ())


if __name__ == "__main__":
    main()
