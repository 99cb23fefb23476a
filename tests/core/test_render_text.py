"""Clusters, script runs, fallback and ICU break hints: the text side of the renderer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from signage_core.languages import Language
from signage_core.render import (
    RenderError,
    Script,
    add_khmer_break_hints,
    clusters,
    default_registry,
)
from signage_core.render.layout import Kind, prepare
from signage_core.render.segment import COENG, is_khmer_consonant, is_khmer_dependent
from signage_core.text import ZWSP


def corpus() -> dict[str, Any]:
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "shared", here.parents[4] / "shared", Path("/work/shared")):
        path = candidate / "corpus" / "captions.json"
        if path.is_file():
            return dict(json.loads(path.read_text(encoding="utf-8")))
    raise FileNotFoundError("shared/corpus/captions.json not found beside the repo")


KHMER_WORDS: list[str] = corpus()["khmer_clusters"]["words"]
CAPTIONS: list[dict[str, str]] = corpus()["captions"]


@pytest.mark.parametrize("word", KHMER_WORDS)
def test_coeng_sequences_stay_inside_one_cluster(word: str) -> None:
    parts = clusters(word)
    assert "".join(parts) == word
    for part in parts:
        assert not part.startswith(COENG)
        assert not is_khmer_dependent(part[0]), f"{part!r} starts with a dependent sign"
        assert not part.endswith(COENG)
    # every subscript consonant sits in the same cluster as its COENG
    offset = 0
    for part in parts:
        if offset and word[offset - 1] == COENG:
            pytest.fail(f"cluster {part!r} starts with a subscript consonant")
        offset += len(part)


def test_a_split_after_coeng_is_merged_back() -> None:
    # Older UAX #29 data split "ស្" | "ត"; whatever regex does, the result keeps them together.
    assert clusters("ស្ត") == ["ស្ត"]
    assert clusters("ក" + COENG) == ["ក" + COENG]


@pytest.mark.parametrize("caption", CAPTIONS, ids=lambda c: c["id"])
def test_icu_hints_fall_between_syllables_and_change_nothing_else(caption: dict[str, str]) -> None:
    km = caption["km"]
    hinted = add_khmer_break_hints(km)
    assert hinted.replace(ZWSP, "") == km
    assert add_khmer_break_hints(hinted) == hinted, "hinting twice must not add more breaks"
    for i, ch in enumerate(hinted):
        if ch == ZWSP:
            before, after = hinted[i - 1], hinted[i + 1]
            assert before != COENG and not is_khmer_dependent(after)
            assert is_khmer_consonant(after) or after in "ឥឦឧឩឪឫឬឭឮឯឰឱឲឳ"


def test_icu_finds_word_breaks_in_a_long_khmer_sentence() -> None:
    hinted = add_khmer_break_hints("សូមគោរពច្បាប់អន្តោប្រវេសន៍")
    assert hinted.count(ZWSP) >= 2


def test_latin_text_gets_no_hints() -> None:
    assert add_khmer_break_hints("Welcome to Viet Nam") == "Welcome to Viet Nam"


def test_missing_icu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "icu4py.breakers", None)
    with pytest.raises(RenderError, match="icu4py"):
        add_khmer_break_hints("សូមស្វាគមន៍")


def test_player_side_modules_do_not_import_icu() -> None:
    import subprocess

    code = (
        "import sys; import signage_core.render as r; "
        "r.render_slide(r.ScreenSpec(width=200, height=100, languages=('km',)), {'km': 'សូម'}); "
        "print('icu4py' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mixed_caption_is_split_into_script_runs_with_their_fonts() -> None:
    prep = prepare("ASEAN 2026 សូមស្វាគមន៍", Language.KM, default_registry())
    by_text = {p.text: p.face.path.name for p in prep.pieces if p.kind is Kind.TEXT and p.face}
    assert by_text["A"].startswith("BeVietnamPro")
    assert by_text["សូ"].startswith("NotoSansKhmer")
    assert not prep.missing


def test_fallback_picks_the_next_font_for_a_glyph_the_first_lacks() -> None:
    registry = default_registry()
    first = registry.chains[Script.LATIN][0]
    lacking = next(ch for ch in "ǂȸʬϞ₿Ⱶ" if not first.covers(ch))
    prep = prepare(f"Be {lacking} here", Language.EN, registry)
    chosen = next(p.face for p in prep.pieces if p.text == lacking)
    assert chosen is not None and chosen is not first
    assert not prep.missing
