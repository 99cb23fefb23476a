"""The message catalogs stay well-formed through merges: one entry per msgid, each with its msgstr.

Babel reads past a msgid without msgstr and lets a duplicate msgid silently replace the first one,
so a merge that concatenates two branches' entries could change a translation nobody looked at.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

CATALOGS = sorted((Path(__file__).parents[2] / "signage_server" / "i18n" / "translations").glob("*/LC_MESSAGES/messages.po"))


def entries(path: Path) -> list[tuple[str, bool]]:
    """(msgid, has msgstr) for every entry, multi-line msgids joined."""
    found: list[tuple[str, bool]] = []
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            if current is not None:
                found.append(("".join(current), False))
            current = [line[len("msgid "):].strip().strip('"')]
        elif line.startswith('"') and current is not None:
            current.append(line.strip().strip('"'))
        elif line.startswith("msgstr") and current is not None:
            found.append(("".join(current), True))
            current = None
    if current is not None:
        found.append(("".join(current), False))
    return found


def test_there_are_catalogs() -> None:
    assert {path.parts[-3] for path in CATALOGS} >= {"vi", "en"}


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parts[-3])
def test_every_msgid_once_with_a_msgstr(path: Path) -> None:
    found = entries(path)
    assert len(found) > 100
    missing = [msgid for msgid, has in found if not has]
    assert not missing, f"msgid without msgstr in {path}: {missing[:5]}"
    twice = [msgid for msgid, n in Counter(msgid for msgid, _ in found).items() if n > 1]
    assert not twice, f"msgid given more than once in {path}: {twice[:5]}"
