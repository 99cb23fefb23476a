"""Vietnamese word segmenters for line-break joins: accuracy, speed and install size (issue 21).

Run: .venv/bin/python benchmarks/vi_segmenters.py  (needs the dev extra: underthesea and pyvi)

Accuracy is measured on the hand-checked subset tests/server/data/vi_words_gold.txt: for every
space between two syllables, is it inside a word (a join) or between words (a break)? What a
reader notices is a *missed join*: a line may then break inside a word. A *false join* only
removes a break opportunity. "none" is the naive baseline: no joins, a break at every space.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from signage_core.render.vietnamese import joined_with, word_gaps

DATA = Path(__file__).resolve().parents[1] / "tests" / "server" / "data"
Segmenter = Callable[[str], Sequence[str]]


def _lines(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _load(name: str) -> tuple[Segmenter, float]:
    """The segmenter and the seconds its import and first call took (a server's first caption)."""
    start = time.perf_counter()
    segment: Segmenter
    if name == "underthesea":
        word_tokenize = importlib.import_module("underthesea").word_tokenize

        def segment(text: str) -> Sequence[str]:
            return list(word_tokenize(text))
    elif name == "pyvi":
        tokenizer = importlib.import_module("pyvi.ViTokenizer")

        def segment(text: str) -> Sequence[str]:
            return list(tokenizer.tokenize(text).split())
    else:

        def segment(text: str) -> Sequence[str]:
            return text.split()

    segment("Xin chào quý khách")
    return segment, time.perf_counter() - start


def _joins(text: str, segment: Segmenter, names: bool) -> list[bool]:
    if names:  # as the server stores it: after a full stop, plus capitalised names
        return [gap == "\u00a0" for gap in re.findall("[ \u00a0]", joined_with(text, segment))]
    found = word_gaps(text, segment(text))
    assert found is not None, text
    return found


def accuracy(segment: Segmenter, names: bool) -> tuple[float, float, float]:
    """(missed joins %, false joins %, gaps right %) over the hand-checked subset."""
    missed = false = right = joins = breaks = 0
    for gold in _lines("vi_words_gold.txt"):
        text = gold.replace("_", " ")
        truth = [ch == "_" for ch in gold if ch in " _"]
        guess = _joins(text, segment, names)
        for t, g in zip(truth, guess, strict=True):
            joins += t
            breaks += not t
            missed += t and not g
            false += g and not t
            right += t == g
    return 100 * missed / joins, 100 * false / breaks, 100 * right / (joins + breaks)


def speed_ms(segment: Segmenter) -> float:
    captions = _lines("vi_captions.txt")
    start = time.perf_counter()
    for text in captions:
        segment(text)
    return (time.perf_counter() - start) * 1000 / len(captions)


def install_mb(package: str, already: set[str]) -> tuple[float, list[str]]:
    """MB on disk of a package and the dependencies it brings that the project does not have."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = _norm(todo.pop())
        if name in seen or name in already:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    total = 0
    for name in seen:
        for file in metadata.distribution(name).files or []:
            path = Path(str(file.locate()))
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6, sorted(seen)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_requirements() -> set[str]:
    """Everything the project installs without the segmenters (base, server, player extras)."""
    project = metadata.distribution("border-gate-signage") if _has("border-gate-signage") else None
    names: set[str] = set()
    todo = [
        re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]
        for r in (project.requires or [] if project else [])
        if 'extra == "dev"' not in r and not r.startswith(("underthesea", "pyvi"))
    ]
    while todo:
        name = _norm(todo.pop())
        if name in names or not _has(name):
            continue
        names.add(name)
        todo += [
            re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]
            for r in metadata.distribution(name).requires or []
            if "extra ==" not in r
        ]
    return names


def _has(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def main() -> None:
    already = _project_requirements()
    print("## Vietnamese word segmenters (43 hand-checked captions; 200-caption corpus for speed)")
    print(
        f"{'segmenter':<24} {'missed joins':>12} {'false joins':>11} {'gaps right':>10} "
        f"{'ms/caption':>10} {'load s':>7} {'install MB':>10}"
    )
    runs = (
        ("none", False),
        ("pyvi", False),
        ("pyvi", True),
        ("underthesea", False),
        ("underthesea", True),
    )
    for name, names in runs:
        segment, load = _load(name)
        missed, false, right = accuracy(segment, names)
        ms = speed_ms(segment)
        size = install_mb(name, already)[0] if name != "none" else 0.0
        label = name + (" as stored" if names else "")
        print(
            f"{label:<24} {missed:11.1f}% {false:10.1f}% {right:9.1f}% "
            f"{ms:10.2f} {load:7.2f} {size:10.1f}"
        )
    for name in ("pyvi", "underthesea"):
        size, deps = install_mb(name, already)
        print(
            f"{name}: {size:.1f} MB with {', '.join(d for d in deps if d != name) or 'nothing else'}"
        )


if __name__ == "__main__":
    main()
