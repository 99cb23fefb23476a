"""Page translations from gettext catalogs: adding a language is adding a catalog folder."""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

CATALOG_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
DEFAULT_LOCALE = "vi"


@cache
def available_locales() -> tuple[str, ...]:
    """Every folder with a catalog, the default first."""
    found = sorted(p.parent.parent.name for p in CATALOG_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return tuple(sorted(found, key=lambda code: code != DEFAULT_LOCALE))


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """Compiled from the .po in memory, so a fresh clone needs no build step; a .mo beside it wins."""
    if locale not in available_locales():
        return gettext.NullTranslations()
    folder = CATALOG_DIR / locale / "LC_MESSAGES"
    mo_path = folder / f"{DOMAIN}.mo"
    po_path = folder / f"{DOMAIN}.po"
    if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        with mo_path.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def pick_locale(requested: str | None) -> str:
    """The requested locale when we have its catalog, else Vietnamese."""
    if requested and requested in available_locales():
        return requested
    return DEFAULT_LOCALE
