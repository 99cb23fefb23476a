"""The explicit recompile trigger: services name what they changed, the recompiler takes it at commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from sqlmodel import Session, col, delete, select

from signage_server.manifests.models import ManifestChange

ChangeKind = Literal["screen", "group", "playlist"]

# session.info key: this session wrote change rows, so its commit must take them.
NOTED = "manifest_changes_noted"


def note_changes(session: Session, *, kind: ChangeKind, ids: Iterable[int | None]) -> None:
    """Record that what shows these targets needs recompiling, in the caller's transaction."""
    for target_id in sorted({i for i in ids if i is not None}):
        session.add(ManifestChange(kind=kind, target_id=target_id))
        session.info[NOTED] = True


def take_changes(session: Session) -> set[tuple[str, int]]:
    """Every pending change row (this transaction's and any a session without a recompiler left), deleted."""
    session.info.pop(NOTED, None)
    rows = session.exec(select(ManifestChange.id, ManifestChange.kind, ManifestChange.target_id)).all()
    if not rows:
        return set()
    session.exec(delete(ManifestChange).where(col(ManifestChange.id).in_([row[0] for row in rows])))
    return {(kind, target_id) for _id, kind, target_id in rows}
