import unicodedata

import pytest

from signage_core.languages import Language, ordered, parse_language
from signage_core.text import ZWSP, normalize_caption


def test_nfd_vietnamese_is_stored_as_nfc() -> None:
    nfc = "Chào mừng quý khách đến với Việt Nam"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert normalize_caption(nfd) == nfc


def test_khmer_break_hints_survive_normalisation() -> None:
    text = f"សូមស្វាគមន៍{ZWSP}មកកាន់"
    assert normalize_caption(text) == text


def test_line_endings_are_unified() -> None:
    assert normalize_caption(" a\r\nb\rc \n") == "a\nb\nc"


def test_languages_come_out_vietnamese_first() -> None:
    assert ordered({Language.KM, Language.VI, Language.EN}) == [Language.VI, Language.EN, Language.KM]


def test_unknown_language_names_the_code() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        parse_language("fr")
