"""Languages as configuration, and zh-Hans, lo, th, km drawn whole and broken where readers break them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from signage_core.languages import (
    BREAK_METHODS,
    DEFAULT_LANGUAGES_FILE,
    Language,
    LanguageConfigError,
    LanguageRegistry,
    foreign_languages,
    language_order,
    ordered,
)
from signage_core.render import ScreenSpec, add_break_hints, default_registry, layout_slide
from signage_core.render.breaks import HINTERS, NO_LINE_END, NO_LINE_START, icu_boundaries
from signage_core.render.layout import Kind, prepare, wrap
from signage_core.text import ZWSP

SHIPPED = DEFAULT_LANGUAGES_FILE.read_text(encoding="utf-8")

# Public-information sentences written for these tests (a gate's welcome, documents, hours, rules).
CORPUS = {
    "zh-Hans": [
        "欢迎来到越南平福省！",
        "请准备好护照和签证，谢谢。",
        "华闾国际口岸每天开放（节假日除外）。",
        "禁止携带违禁物品过境；违者依法处理。",
        "入境旅客请在左侧排队，出境旅客请在右侧排队。",
        "口岸开放时间：早上七点至晚上七点「越南时间」。",
    ],
    "lo": [
        "ຍິນດີຕ້ອນຮັບສູ່ປະເທດຫວຽດນາມ",
        "ກະລຸນາກຽມໜັງສືຜ່ານແດນໃຫ້ພ້ອມ",
        "ດ່ານຊາຍແດນສາກົນເປີດທຸກມື້",
        "ຫ້າມນຳສິນຄ້າຕ້ອງຫ້າມຂ້າມຊາຍແດນ",
        "ສາທາລະນະລັດປະຊາທິປະໄຕປະຊາຊົນລາວ",
    ],
    "th": [
        "ยินดีต้อนรับสู่ประเทศเวียดนาม",
        "กรุณาเตรียมหนังสือเดินทางให้พร้อม",
        "ด่านชายแดนระหว่างประเทศเปิดทุกวัน",
        "ห้ามนำสินค้าต้องห้ามผ่านแดน",
        "นักท่องเที่ยวกรุณาต่อแถวทางด้านซ้าย",
    ],
}
KHMER_WORDS_KEPT = ("ខេត្ត", "ជាតិ", "ប៊ិញភឿក")  # issue 18: ICU offers ខេ|ត្ត, ជា|តិ, ប៊ិញភឿ|ក
KHMER = "សូមស្វាគមន៍មកកាន់ខេត្តប៊ិញភឿកនៃប្រទេសវៀតណាម ច្រកទ្វារព្រំដែនអន្តរជាតិ និងថ្ងៃបុណ្យជាតិ"


def _registry(extra: str = "", text: str = SHIPPED) -> LanguageRegistry:
    import tomllib

    return LanguageRegistry.from_config(tomllib.loads(text + extra), source="test.toml")


def test_the_shipped_registry_puts_vietnamese_first_and_names_every_method() -> None:
    assert [lang.value for lang in language_order()] == ["vi", "en", "km", "zh-Hans", "lo", "th"]
    assert Language.VI not in foreign_languages() and len(foreign_languages()) == 5
    assert set(HINTERS) == set(BREAK_METHODS)
    assert ordered([Language("th"), Language.KM, Language.VI]) == [Language.VI, Language.KM, Language("th")]
    assert Language("zh-Hans") is Language("zh-Hans") and Language("vi") is Language.VI


def test_language_is_a_wire_string_that_refuses_unconfigured_codes() -> None:
    class Wire(BaseModel):
        captions: dict[Language, str]

    parsed = Wire.model_validate_json('{"captions": {"vi": "Xin chào", "th": "สวัสดี"}}')
    assert list(parsed.captions) == [Language.VI, Language("th")]
    assert parsed.model_dump_json() == '{"captions":{"vi":"Xin chào","th":"สวัสดี"}}'
    with pytest.raises(ValueError, match="unknown language 'fr'.*vi, en, km, zh-Hans, lo, th"):
        Wire.model_validate({"captions": {"fr": "Bonjour"}})


@pytest.mark.parametrize(("extra", "named"), [
    ('[languages.xx]\nnative = "X"\nname_vi = "X"\nname_en = "X"\nscript = "latin"\nbreaks = "magic"\norder = 70\n',
     r"\[languages.xx\]: breaks = 'magic' is not one of"),
    ('[languages.yy]\nnative = "Y"\nname_vi = "Y"\nname_en = "Y"\nscript = "latin"\nbreaks = "spaces"\norder = -1\n',
     r"languages.yy.order = -1 puts it before Vietnamese"),
    ('[languages.zz]\nnative = "Z"\nname_vi = "Z"\nscript = "latin"\nbreaks = "spaces"\norder = 80\n',
     r"\[languages.zz\]: name_en must be a non-empty string"),
    ('[languages.Not_A_Code]\nnative = "Z"\n', r"'Not_A_Code' is not a BCP 47 code"),
    ('[languages.zh-Hant-TW]\nnative = "Z"\n', r"'zh-Hant-TW' is longer than 8 characters"),
    ('[languages.ww]\nnative = "W"\nname_vi = "W"\nname_en = "W"\nscript = "latin"\nbreaks = "spaces"\norder = 10\n',
     r"share the same order"),
    ('[languages.vv]\nnative = "V"\nname_vi = "V"\nname_en = "V"\nscript = "latin"\nbreaks = "spaces"\norder = 90\n'
     'min_px = 3\n', r"\[languages.vv\]: min_px = 3 is not legible"),
    ('[languages.uu]\nnative = "U"\nname_vi = "U"\nname_en = "U"\nscript = "latin"\nbreaks = "spaces"\norder = 95\n'
     'on_new_screens = "yes"\n', r"\[languages.uu\]: on_new_screens must be true or false"),
])
def test_a_bad_entry_is_refused_naming_it(extra: str, named: str) -> None:
    with pytest.raises(LanguageConfigError, match=named):
        _registry(extra)


def test_vietnamese_cannot_be_configured_away(tmp_path: Path) -> None:
    without_vi = SHIPPED.replace("[languages.vi]", "[languages.vi-old]")
    with pytest.raises(LanguageConfigError, match=r"\[languages.vi\] is missing"):
        _registry(text=without_vi)
    broken = tmp_path / "languages.toml"
    broken.write_text("[languages.vi\n", encoding="utf-8")
    with pytest.raises(LanguageConfigError, match="cannot read language configuration"):
        LanguageRegistry.from_toml(broken)


@pytest.mark.parametrize("code", sorted(CORPUS))
def test_new_languages_draw_every_character_with_a_real_glyph(code: str) -> None:
    registry = default_registry()
    for sentence in CORPUS[code]:
        prep = prepare(add_break_hints(code, sentence), Language(code), registry)
        assert prep.missing == (), (sentence, prep.missing)
        script = Language(code).info.script
        assert all(p.script == script for p in prep.pieces if p.kind is Kind.TEXT and not p.text.isascii())


def _lines(code: str, sentence: str, width: int) -> list[str]:
    """The sentence wrapped at 24 px into `width`; [] when a word alone is wider than that."""
    prep = prepare(add_break_hints(code, sentence), Language(code), default_registry())
    lines = wrap(prep, 24, width, split_words=False)
    return [line.text for line in lines] if lines is not None else []


@pytest.mark.parametrize("code", ["lo", "th"])
def test_lao_and_thai_lines_end_only_where_icu_breaks(code: str) -> None:
    """The oracle is ICU's dictionary asked directly, on the original text, in the test."""
    for sentence in CORPUS[code]:
        allowed = set(icu_boundaries(sentence, code))
        broken = 0
        for width in (120, 180, 260):
            lines = _lines(code, sentence, width)
            if not lines:
                continue
            assert "".join(lines).replace(ZWSP, "") == sentence
            ends = [sum(len(line) for line in lines[: i + 1]) for i in range(len(lines) - 1)]
            assert set(ends) <= allowed, (sentence, width, lines)
            broken += len(ends)
        assert broken, f"{sentence!r} was never broken: the test checks nothing"


def _violations(lines: list[str]) -> int:
    return sum(line[0] in NO_LINE_START for line in lines[1:]) + sum(line[-1] in NO_LINE_END for line in lines[:-1])


def test_chinese_lines_never_start_with_closing_nor_end_with_opening_punctuation() -> None:
    naive_violations = 0
    for sentence in CORPUS["zh-Hans"]:
        for width in (100, 150, 200):
            lines = _lines("zh-Hans", sentence, width)
            assert "".join(lines) == sentence and len(lines) > 1
            assert _violations(lines) == 0, (sentence, width, lines)
            # A break allowed between every two characters, the oracle's counter-example.
            naive = wrap(prepare(ZWSP.join(sentence), Language("zh-Hans"), default_registry()), 24, width)
            assert naive is not None
            naive_violations += _violations([line.text for line in naive])
    assert naive_violations, "breaking anywhere never broke a rule here: the corpus tests nothing"


def test_the_three_khmer_words_icu_cuts_are_kept_whole() -> None:
    hinted = add_break_hints("km", KHMER)
    for word in KHMER_WORDS_KEPT:
        assert word in hinted, f"{word} was cut: {hinted.replace(ZWSP, '|')}"
    assert hinted.count(ZWSP) >= 8  # and the sentence still breaks between words
    for width in (150, 250, 400):
        lines = _lines("km", KHMER, width)
        assert len(lines) > 1
        for word in KHMER_WORDS_KEPT:
            assert not any(line.endswith(word[:i]) and nxt.startswith(word[i:])
                           for line, nxt in zip(lines, lines[1:], strict=False) for i in range(1, len(word)))


def test_a_translators_hints_are_kept_and_a_hint_inside_a_syllable_is_never_a_break() -> None:
    own = "ខេត្ត\u200bប៊ិញភឿក"
    assert add_break_hints("km", own) == own
    # After a COENG, before a dependent vowel, after a Thai pre-base vowel: inside a syllable.
    for text, code in (("ខេត្\u200bត", "km"), ("ខ\u200bេត្ត", "km"), ("เ\u200bวียด", "th")):
        kinds = [p.kind for p in prepare(text, Language(code), default_registry()).pieces]
        assert Kind.ZWSP not in kinds, text
    kinds = [p.kind for p in prepare("ខេ\u200bត្ត", Language.KM, default_registry()).pieces]
    assert kinds.count(Kind.ZWSP) == 1  # between two syllables it is the translator's break


def test_a_slide_stacks_every_configured_language_under_vietnamese_at_three_quarters() -> None:
    captions = {Language.VI: "Chào mừng quý khách", **{Language(c): CORPUS[c][0] for c in CORPUS}}
    spec = ScreenSpec(width=1920, height=1080, languages=tuple(ordered(list(captions))))
    blocks = [p.block for p in layout_slide(spec, {k: add_break_hints(k, v) for k, v in captions.items()},
                                            default_registry()).blocks]
    assert [b.language.value for b in blocks] == ["vi", "zh-Hans", "lo", "th"]
    assert all(b.size <= 0.75 * blocks[0].size for b in blocks[1:])


def test_a_script_no_configured_language_uses_needs_no_font_installed() -> None:
    """Dropping zh-Hans and lo from languages.toml frees a player from the Debian CJK and Lao packages."""
    import tomllib

    from signage_core.languages import use_registry
    from signage_core.render.fonts import BUILTIN_CONFIG, DEFAULT_FONTS_DIR, FontRegistry

    config = tomllib.loads(SHIPPED)
    del config["languages"]["zh-Hans"], config["languages"]["lo"]
    fonts = {**BUILTIN_CONFIG, "fonts": {**BUILTIN_CONFIG["fonts"],
                                         "noto-sans-cjk-sc": {"fontconfig": "No Such Family CJK"},
                                         "noto-sans-lao": {"file": "missing-lao.ttf"}}}
    use_registry(LanguageRegistry.from_config(config, source="test"))
    try:
        registry = FontRegistry.from_config(fonts, base_dir=DEFAULT_FONTS_DIR, source="test")
        assert set(registry.chains) == {"latin", "khmer", "thai"}
        prep = prepare("欢迎", Language.EN, registry)
        assert prep.missing == ("欢", "迎")  # still refused by code point, never drawn as boxes
    finally:
        use_registry(None)
