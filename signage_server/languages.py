"""Language codes as the server's inputs name them: configured ones, else a refusal naming the others."""

from __future__ import annotations

from signage_core.languages import Language, parse_language
from signage_server.errors import Invalid


def parse_languages(codes: list[str], *, field: str = "languages") -> list[Language]:
    """The codes as Languages; codes fonts/languages.toml does not list are refused, all named."""
    unknown = [code for code in codes if code not in Language]
    if unknown:
        raise Invalid("unknown language %(lang)s", field=field, params={"lang": ", ".join(unknown)})
    return [parse_language(code) for code in codes]
