"""The caption languages a screen can show, in the order the law puts them (Vietnamese first)."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    VI = "vi"
    EN = "en"
    KM = "km"


# Advertising Law 16/2012/QH13 Art. 18(2): Vietnamese first, foreign languages below it.
LANGUAGE_ORDER: tuple[Language, ...] = (Language.VI, Language.EN, Language.KM)
FOREIGN_LANGUAGES: tuple[Language, ...] = (Language.EN, Language.KM)


def parse_language(code: str) -> Language:
    """Turn an external code into a Language, naming the code when it is not one we show."""
    try:
        return Language(code)
    except ValueError:
        known = ", ".join(lang.value for lang in LANGUAGE_ORDER)
        raise ValueError(f"unknown language {code!r}: expected one of {known}") from None


def ordered(languages: frozenset[Language] | set[Language] | list[Language]) -> list[Language]:
    """Languages in display order, whatever order they were given in."""
    chosen = set(languages)
    return [lang for lang in LANGUAGE_ORDER if lang in chosen]
