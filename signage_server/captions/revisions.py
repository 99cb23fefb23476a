"""Reading caption revisions: live, pending, outdated, and the consistent set a slide goes on air with.

One place for these rules: the pages, the API, publishability and the manifest compiler all call here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from signage_core.languages import Language, ordered
from signage_server.captions.models import PENDING_STATES, CaptionRevision, CaptionState
from signage_server.db import saved_id

# States of a revision that an approver once approved: the live one and the ones it replaced.
APPROVED_EVER = (CaptionState.APPROVED, CaptionState.RETIRED)


@dataclass(frozen=True)
class Approved:
    """What the consistent-set rule needs of an approved (live or retired) revision; cheap to load in bulk."""

    id: int
    language: str
    text: str
    source_id: int | None
    approved_at: datetime | None
    live: bool
    urgent: bool


def as_approved(rev: CaptionRevision) -> Approved:
    return Approved(id=saved_id(rev), language=rev.language, text=rev.text, source_id=rev.source_id,
                    approved_at=rev.approved_at, live=rev.state == CaptionState.APPROVED, urgent=rev.urgent)


def consistent_set(revisions: Iterable[Approved], languages: Iterable[str]) -> dict[str, Approved] | None:
    """The newest approved Vietnamese with an approved translation *of that revision* in every language asked.

    Returns {language: revision} for Vietnamese plus the languages asked, or None when no Vietnamese
    revision has them all. A new Vietnamese text therefore reaches the screens only together with its
    translations; until then the previous consistent set stays on air. Never a new source with old
    translations.
    """
    wanted = [code for code in languages if code != Language.VI.value]
    sources = sorted((r for r in revisions if r.language == Language.VI.value),
                     key=lambda r: (r.live, r.approved_at or datetime.min, r.id), reverse=True)
    translations: dict[tuple[str, int], Approved] = {}
    for r in sorted((r for r in revisions if r.language != Language.VI.value),
                    key=lambda r: (r.approved_at or datetime.min, r.id)):
        if r.source_id is not None:
            translations[(r.language, r.source_id)] = r  # the newest approved translation of that source wins
    for source in sources:
        found = {code: translations.get((code, source.id)) for code in wanted}
        if all(found.values()):
            return {Language.VI.value: source, **{code: rev for code, rev in found.items() if rev is not None}}
    return None


def approved_revisions(session: Session, *, slide_ids: Sequence[int]) -> dict[int, list[Approved]]:
    """Every live or retired revision of these slides (columns only: the compiler reads thousands)."""
    out: dict[int, list[Approved]] = {sid: [] for sid in slide_ids}
    # sqlmodel types select() for at most 4 columns: these 8 come back untyped.
    columns = select(  # type: ignore[call-overload]
        CaptionRevision.id, CaptionRevision.slide_id, CaptionRevision.language, CaptionRevision.text,
        CaptionRevision.state, CaptionRevision.source_id, CaptionRevision.approved_at, CaptionRevision.urgent)
    for rid, slide_id, language, text, state, source_id, approved_at, urgent in session.exec(
            columns.where(col(CaptionRevision.slide_id).in_(slide_ids),
                          col(CaptionRevision.state).in_(APPROVED_EVER))).all():
        out[slide_id].append(Approved(id=rid or 0, language=language, text=text, source_id=source_id,
                                      approved_at=approved_at, live=state == CaptionState.APPROVED,
                                      urgent=bool(urgent)))
    return out


def live_of(session: Session, *, slide_id: int, language: str) -> CaptionRevision | None:
    return session.exec(select(CaptionRevision).where(
        CaptionRevision.slide_id == slide_id, CaptionRevision.language == language,
        CaptionRevision.state == CaptionState.APPROVED)).first()


def pending_of(session: Session, *, slide_id: int, language: str) -> CaptionRevision | None:
    return session.exec(select(CaptionRevision).where(
        CaptionRevision.slide_id == slide_id, CaptionRevision.language == language,
        col(CaptionRevision.state).in_(PENDING_STATES))).first()


@dataclass
class LanguageRevisions:
    """A slide's caption in one language: its live revision, its pending one, and whether it is outdated."""

    language: str
    live: CaptionRevision | None
    pending: CaptionRevision | None
    outdated: bool = False
    # For an outdated translation: the Vietnamese it translated and the Vietnamese to translate now.
    old_source: CaptionRevision | None = None

    @property
    def current(self) -> CaptionRevision:
        """What writers work on and the API returns: the pending revision, else the live one."""
        found = self.pending or self.live
        assert found is not None  # noqa: S101 (built only for languages with a revision)
        return found


def translation_source(by_lang: dict[str, LanguageRevisions]) -> CaptionRevision | None:
    """The Vietnamese a translator translates now: a submitted new text, else the live one."""
    vi = by_lang.get(Language.VI.value)
    if vi is None:
        return None
    if vi.pending is not None and vi.pending.state == CaptionState.SUBMITTED:
        return vi.pending
    return vi.live


def by_language(session: Session, *, slide_id: int) -> dict[str, LanguageRevisions]:
    """Live and pending revision per language, Vietnamese first, each translation marked outdated or not.

    A translation is outdated when the Vietnamese it translates is no longer the newest approved
    one (or was replaced before approval), or when it records no source while a Vietnamese is live.
    """
    rows = session.exec(select(CaptionRevision).where(
        CaptionRevision.slide_id == slide_id,
        col(CaptionRevision.state).in_((*PENDING_STATES, CaptionState.APPROVED)))).all()
    found: dict[str, LanguageRevisions] = {}
    for rev in rows:
        entry = found.setdefault(rev.language, LanguageRevisions(rev.language, None, None))
        if rev.state == CaptionState.APPROVED:
            entry.live = rev
        else:
            entry.pending = rev
    out = {lang.value: found[lang.value] for lang in ordered([Language(code) for code in found])}
    vi = out.get(Language.VI.value)
    live_vi = vi.live if vi else None
    for code, entry in out.items():
        if code == Language.VI.value or live_vi is None:
            continue
        rev = entry.current
        if rev.source_id == live_vi.id:
            continue
        source = session.get(CaptionRevision, rev.source_id) if rev.source_id is not None else None
        if source is None or source.state in (CaptionState.RETIRED, CaptionState.DISCARDED):
            entry.outdated = True
            entry.old_source = source
    return out
