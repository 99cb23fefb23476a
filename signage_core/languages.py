"""The caption languages a screen can show, read from fonts/languages.toml (Vietnamese first)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from signage_core.fsutil import read_toml

# The repo's fonts/ folder holds languages.toml beside fonts.toml.
DEFAULT_LANGUAGES_FILE = Path(__file__).resolve().parents[1] / "fonts" / "languages.toml"
# Another registry (a deployment's own file, a test's): read once, at first use.
LANGUAGES_FILE_ENV = "SIGNAGE_LANGUAGES_FILE"

# The line-break methods a language may name; each is one entry of render.breaks.HINTERS.
BREAK_METHODS = ("spaces", "vi-words", "icu", "khmer-nltk", "cjk")
_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SCRIPT = re.compile(r"[a-z]+")
MAX_CODE_CHARS = 8  # the server's language columns are VARCHAR(8) (captions, play log, heartbeats)


class LanguageConfigError(Exception):
    """languages.toml is unreadable or an entry in it is wrong; the message names the entry.

    Not a ValueError: code that refuses a bad language code must not mistake a broken file for one.
    """


@dataclass(frozen=True)
class LanguageInfo:
    """One configured language: what the renderer, the server's pages and reports need of it."""

    code: str  # BCP 47, also the key of captions everywhere (manifests, database, forms)
    native: str  # its name in itself, for translators and the screen's language list
    name_vi: str
    name_en: str
    script: str  # the fonts.toml [chains] key whose fonts draw it
    breaks: str  # one of BREAK_METHODS
    min_px: int  # the least legible em size for it, on top of its script's floor
    order: int
    keep_whole: tuple[str, ...] = ()  # words (names) the break hints must never cut
    on_new_screens: bool = False  # ticked when an admin creates a screen

    def name(self, locale: str) -> str:
        return self.name_vi if locale == "vi" else self.name_en

    @property
    def spaced(self) -> bool:
        """Written with spaces between words (or syllables): its words are counted at spaces and
        its breaks need no break-point editor (Vietnamese joins have their own, on the slide page)."""
        return self.breaks in ("spaces", "vi-words")


class _LanguageType(type):
    """Lets `for lang in Language`, `x in Language` and `len(Language)` follow the registry."""

    def __iter__(cls) -> Iterator[Language]:
        return iter(language_order())

    def __contains__(cls, item: object) -> bool:
        return isinstance(item, str) and item in registry().by_code

    def __len__(cls) -> int:
        return len(registry().by_code)


class Language(str, metaclass=_LanguageType):
    """A configured language code; `Language("xx")` refuses codes languages.toml does not list."""

    VI: ClassVar[Language]
    EN: ClassVar[Language]
    KM: ClassVar[Language]
    _interned: ClassVar[dict[str, Language]] = {}

    def __new__(cls, code: str) -> Language:
        return parse_language(code)

    @classmethod
    def _intern(cls, code: str) -> Language:
        """One object per code, so `lang is Language.VI` keeps working as it did for the enum."""
        found = cls._interned.get(code)
        if found is None:
            found = str.__new__(cls, code)
            cls._interned[code] = found
        return found

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def info(self) -> LanguageInfo:
        return registry().by_code[self.value]

    def __repr__(self) -> str:
        return f"Language({self.value!r})"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Language, (self.value,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _validate,
            core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


def _validate(code: str) -> Language:
    return Language(code)


Language.VI = Language._intern("vi")
Language.EN = Language._intern("en")
Language.KM = Language._intern("km")


@dataclass(frozen=True)
class LanguageRegistry:
    """Every configured language in display order; Vietnamese is always first."""

    languages: tuple[LanguageInfo, ...]
    source: str

    @cached_property
    def by_code(self) -> Mapping[str, LanguageInfo]:
        return {info.code: info for info in self.languages}

    @classmethod
    def from_toml(cls, path: Path) -> LanguageRegistry:
        config = read_toml(path, "language configuration", LanguageConfigError)
        return cls.from_config(config, source=str(path))

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, source: str) -> LanguageRegistry:
        entries = config.get("languages")
        if not isinstance(entries, Mapping) or not entries:
            raise LanguageConfigError(f"{source}: needs a [languages.<code>] table per language")
        infos = [_entry(code, entry, source) for code, entry in entries.items()]
        infos.sort(key=lambda info: (info.order, info.code))
        if "vi" not in {info.code for info in infos}:
            raise LanguageConfigError(f"{source}: [languages.vi] is missing: Vietnamese is always shown")
        if infos[0].code != "vi":
            raise LanguageConfigError(
                f"{source}: languages.{infos[0].code}.order = {infos[0].order} puts it before "
                "Vietnamese; Vietnamese comes first (Advertising Law 16/2012/QH13 Art. 18(2))"
            )
        orders = [info.order for info in infos]
        if len(set(orders)) != len(orders):
            clash = sorted(i.code for i in infos if orders.count(i.order) > 1)
            raise LanguageConfigError(f"{source}: languages {clash} share the same order")
        return cls(languages=tuple(infos), source=source)


def _entry(code: str, entry: object, source: str) -> LanguageInfo:
    where = f"{source}: [languages.{code}]"
    if not _CODE.fullmatch(code):
        raise LanguageConfigError(f"{where}: {code!r} is not a BCP 47 code such as 'th' or 'zh-Hans'")
    if len(code) > MAX_CODE_CHARS:
        raise LanguageConfigError(
            f"{where}: {code!r} is longer than {MAX_CODE_CHARS} characters, the database's language "
            "columns; use the shortest BCP 47 form (zh-Hans, not zh-Hans-CN)"
        )
    if not isinstance(entry, Mapping):
        raise LanguageConfigError(f"{where}: must be a table")
    unknown = sorted(set(entry) - {"native", "name_vi", "name_en", "script", "breaks", "min_px",
                                   "order", "keep_whole", "on_new_screens"})
    if unknown:
        raise LanguageConfigError(f"{where}: unknown keys {unknown}")

    def text(key: str) -> str:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise LanguageConfigError(f"{where}: {key} must be a non-empty string")
        return value.strip()

    def number(key: str, default: int | None = None) -> int:
        value = entry.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise LanguageConfigError(f"{where}: {key} must be a whole number, got {value!r}")
        return value

    script = text("script")
    if not _SCRIPT.fullmatch(script):
        raise LanguageConfigError(f"{where}: script {script!r} must be a lower-case [chains] key of fonts.toml")
    breaks = text("breaks")
    if breaks not in BREAK_METHODS:
        raise LanguageConfigError(f"{where}: breaks = {breaks!r} is not one of {', '.join(BREAK_METHODS)}")
    min_px = number("min_px", 14)
    if min_px < 6:
        raise LanguageConfigError(f"{where}: min_px = {min_px} is not legible (< 6 px)")
    on_new = entry.get("on_new_screens", False)
    if not isinstance(on_new, bool):
        raise LanguageConfigError(f"{where}: on_new_screens must be true or false, got {on_new!r}")
    keep = entry.get("keep_whole", [])
    if not isinstance(keep, list) or not all(isinstance(w, str) and w.strip() for w in keep):
        raise LanguageConfigError(f"{where}: keep_whole must be a list of non-empty words")
    return LanguageInfo(
        code=code, native=text("native"), name_vi=text("name_vi"), name_en=text("name_en"),
        script=script, breaks=breaks, min_px=min_px, order=number("order"),
        keep_whole=tuple(w.strip() for w in keep), on_new_screens=on_new or code == "vi",
    )


_current: list[LanguageRegistry] = []


def registry() -> LanguageRegistry:
    """The process's languages: $SIGNAGE_LANGUAGES_FILE or fonts/languages.toml, read once."""
    if not _current:
        path = Path(os.environ.get(LANGUAGES_FILE_ENV) or DEFAULT_LANGUAGES_FILE)
        _current.append(LanguageRegistry.from_toml(path))
    return _current[0]


def use_registry(new: LanguageRegistry | None) -> None:
    """Swap the process's languages (a test, a reload); None reads the file again at next use."""
    _current.clear()
    if new is not None:
        _current.append(new)


def language_order() -> tuple[Language, ...]:
    """Every configured language, Vietnamese first, then by each entry's order."""
    return tuple(Language._intern(info.code) for info in registry().languages)


def foreign_languages() -> tuple[Language, ...]:
    return tuple(lang for lang in language_order() if lang != Language.VI)


def info(language: str) -> LanguageInfo:
    """The configuration of a language, naming the code when it is not configured."""
    return registry().by_code[parse_language(language).value]


def language_name(code: str, locale: str) -> str:
    """A language's name in the page's locale; an unconfigured (retired) code is shown as is."""
    found = registry().by_code.get(code)
    return found.name(locale) if found else code


class _Names(Mapping[str, str]):
    """Language names in one locale keyed by code, following the registry (for templates)."""

    def __init__(self, locale: str, extra: Mapping[str, str]) -> None:
        self._locale = locale
        self._extra = extra

    def __getitem__(self, code: str) -> str:
        if code in self._extra:
            return self._extra[code]
        return registry().by_code[code].name(self._locale)

    def __iter__(self) -> Iterator[str]:
        return iter([*(info.code for info in registry().languages), *self._extra])

    def __len__(self) -> int:
        return len(registry().languages) + len(self._extra)


def names(locale: str, extra: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """Every configured language's name in a locale, plus `extra` pseudo-languages (reports)."""
    return _Names(locale, extra or {})


def parse_language(code: str) -> Language:
    """Turn an external code into a Language, naming the code when it is not one we show."""
    if isinstance(code, str) and code in registry().by_code:
        return Language._intern(code)
    known = ", ".join(info.code for info in registry().languages)
    raise ValueError(f"unknown language {code!r}: expected one of {known}")


def ordered(
    languages: frozenset[Language] | set[Language] | list[Language] | tuple[Language, ...],
) -> list[Language]:
    """Languages in display order, whatever order they were given in."""
    chosen = set(languages)
    return [lang for lang in language_order() if lang in chosen]


def __getattr__(name: str) -> tuple[Language, ...]:
    # The old constants, now read from the registry when asked for (Advertising Law order).
    if name == "LANGUAGE_ORDER":
        return language_order()
    if name == "FOREIGN_LANGUAGES":
        return foreign_languages()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
