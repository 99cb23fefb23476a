"""The caption workflow on revisions: edits make a pending revision (draft -> submitted -> approved, or
returned with a reason); approval makes it live and retires the one before; four-eyes throughout.

The live revision is never touched by an edit, so a draft never takes a slide off the air.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from signage_core.languages import Language
from signage_core.text import normalize_caption
from signage_server.audit import service as audit
from signage_server.captions import revisions
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
)
from signage_server.languages import parse_languages
from signage_server.permissions import can_review_language, can_write_language
from signage_server.slides import preview
from signage_server.slides import service as slides
from signage_server.slides.models import Slide
from signage_server.slides.readability import Rules
from signage_server.users.models import User

MAX_CAPTION_CHARS = 1000
# Newline separates lines and ZWSP marks Khmer break points; other control characters are typos.
_ALLOWED_CONTROLS = {"\n", "\u200b", "\u200c", "\u200d"}


def _language(code: str) -> Language:
    return parse_languages([code], field="language")[0]


def clean_text(text: str) -> str:
    """NFC, trimmed, bounded, without stray control characters."""
    value = normalize_caption(text)
    if not value:
        raise Invalid("caption text is empty", field="text")
    if len(value) > MAX_CAPTION_CHARS:
        raise Invalid("caption is %(n)s characters; at most %(max)s", field="text",
                      params={"n": len(value), "max": MAX_CAPTION_CHARS})
    bad = sorted({f"U+{ord(ch):04X}" for ch in value
                  if (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) and ch not in _ALLOWED_CONTROLS})
    if bad:
        raise Invalid("caption contains control characters: %(chars)s", field="text", params={"chars": ", ".join(bad)})
    return value


def find_caption(session: Session, *, slide_id: int, language: str) -> CaptionRevision | None:
    """The revision writers work on: the pending one, else the live one."""
    lang = _language(language)
    found = revisions.by_language(session, slide_id=slide_id).get(lang.value)
    return found.current if found is not None else None


def get_caption(session: Session, *, slide_id: int, language: str) -> CaptionRevision:
    slides.get_slide(session, slide_id=slide_id)
    caption = find_caption(session, slide_id=slide_id, language=language)
    if caption is None:
        raise NotFound("caption", f"{slide_id}/{language}")
    return caption


def language_revisions(session: Session, *, slide_id: int, language: str) -> revisions.LanguageRevisions | None:
    return revisions.by_language(session, slide_id=slide_id).get(_language(language).value)


def _require_writer(actor: User | None, lang: Language) -> None:
    if actor is not None and not can_write_language(actor, lang):
        raise Forbidden("%(user)s may not write %(language)s captions", details={"language": lang.value},
                        params={"user": actor.username, "language": lang.value})


def _require_reviewer(actor: User, lang: Language) -> None:
    if not can_review_language(actor, lang):
        raise Forbidden("%(user)s may not review %(language)s captions", details={"language": lang.value},
                        params={"user": actor.username, "language": lang.value})


def _token(etag: str) -> str:
    """The revision token of an ETag as sent in If-Match or posted back by a page: quotes and W/ do not matter."""
    value = etag.strip()
    return value.removeprefix("W/").strip('"')


def check_version(current: CaptionRevision | None, if_match: str | None) -> None:
    """No lost updates: the writer must have seen the revision they are replacing (None: no check asked)."""
    if if_match is None or if_match.strip() == "*":
        return
    expected = current.etag if current is not None else '"0.0"'
    if _token(if_match) != _token(expected):
        raise PreconditionFailed(
            "the caption was changed by someone else since you opened it; nothing was saved",
            details={"etag": expected, "current_text": current.text if current is not None else None,
                     "current_state": str(current.state) if current is not None else None})


def _save(session: Session, revision: CaptionRevision, *, actor: User | None, action: str,
          before: dict[str, object] | None, now: datetime) -> CaptionRevision:
    revision.updated_at = now
    session.add(revision)
    session.flush()
    audit.record(session, actor=actor, action=action, entity="caption", entity_id=revision.id,
                 before=before, after=audit.snapshot(revision), now=now)
    return revision


def _locked_slide(session: Session, slide_id: int) -> Slide:
    """The slide, row-locked to the end of the transaction (PostgreSQL; SQLite writers already queue): two
    writers of one slide's captions take turns, so the version check and the one-pending rule cannot race."""
    slide = session.exec(select(Slide).where(Slide.id == slide_id).with_for_update()).first()
    if slide is None:
        raise NotFound("slide", slide_id)
    return slide


def _referenced(session: Session, revision: CaptionRevision) -> bool:
    """Some translation was written against this (Vietnamese) revision."""
    return session.exec(select(CaptionRevision.id).where(CaptionRevision.source_id == revision.id)).first() is not None


def write_caption(
    session: Session, *, actor: User | None, slide_id: int, language: str, text: str,
    submit: bool = False, now: datetime, if_match: str | None = None,
) -> CaptionRevision:
    """Create or edit the pending revision; the live revision stays on air until a replacement is approved."""
    lang = _language(language)
    _require_writer(actor, lang)
    slide = _locked_slide(session, slide_id)
    value = clean_text(text)
    by_lang = revisions.by_language(session, slide_id=slide_id)
    entry = by_lang.get(lang.value)
    pending = entry.pending if entry else None
    live = entry.live if entry else None
    check_version(pending or live, if_match)
    source = revisions.translation_source(by_lang) if lang != Language.VI else None
    source_id = source.id if source is not None else None
    stays_submitted = pending is not None and pending.state == CaptionState.SUBMITTED
    if submit or stays_submitted:
        preview.require_fits(session, slide=slide, language=lang, text=value)  # review sees only showable text
    state = CaptionState.SUBMITTED if submit or stays_submitted else CaptionState.DRAFT
    if pending is None:
        if live is not None and live.text == value and not (entry and entry.outdated):
            return live  # the same words are already live: nothing to review again
        return _new_revision(session, actor=actor, slide_id=slide_id, lang=lang, value=value, state=state,
                             source_id=source_id, now=now)
    if pending.text == value and pending.source_id == source_id and (not submit or stays_submitted):
        return pending  # same text: nothing changes, the version (ETag) stays
    if lang == Language.VI and pending.text != value and _referenced(session, pending):
        # Translators worked from this text: keep it as it was (they translated it) and start a new one.
        before = audit.snapshot(pending)
        pending.state = CaptionState.DISCARDED
        _save(session, pending, actor=actor, action="caption.discard", before=before, now=now)
        return _new_revision(session, actor=actor, slide_id=slide_id, lang=lang, value=value, state=state,
                             source_id=None, now=now)
    before = audit.snapshot(pending)
    pending.text = value
    pending.author_id = actor.id if actor else None
    pending.state = state
    pending.source_id = source_id
    pending.return_reason = None
    pending.version += 1
    return _save(session, pending, actor=actor, action="caption.edit", before=before, now=now)


def _new_revision(session: Session, *, actor: User | None, slide_id: int, lang: Language, value: str,
                  state: CaptionState, source_id: int | None, now: datetime) -> CaptionRevision:
    revision = CaptionRevision(slide_id=slide_id, language=lang.value, text=value, state=state, source_id=source_id,
                               author_id=actor.id if actor else None, created_at=now, updated_at=now)
    return _save(session, revision, actor=actor, action="caption.create", before=None, now=now)


def _pending_or_conflict(session: Session, slide_id: int, lang: Language, verb: str) -> CaptionRevision:
    _locked_slide(session, slide_id)
    entry = revisions.by_language(session, slide_id=slide_id).get(lang.value)
    if entry is None:
        raise NotFound("caption", f"{slide_id}/{lang.value}")
    if entry.pending is None:
        raise Conflict("caption is approved and nothing new is waiting; there is nothing to %(verb)s",
                       details={"state": str(CaptionState.APPROVED)}, params={"verb": verb})
    return entry.pending


def submit_caption(session: Session, *, actor: User, slide_id: int, language: str, now: datetime,
                   if_match: str | None = None) -> CaptionRevision:
    """Hand a draft (or a returned revision) to review."""
    lang = _language(language)
    _require_writer(actor, lang)
    pending = _pending_or_conflict(session, slide_id, lang, "submit")
    check_version(pending, if_match)
    if pending.state == CaptionState.SUBMITTED:
        return pending
    preview.require_fits(session, slide=slides.get_slide(session, slide_id=slide_id), language=lang,
                         text=pending.text)
    before = audit.snapshot(pending)
    pending.state = CaptionState.SUBMITTED
    pending.return_reason = None
    pending.version += 1
    return _save(session, pending, actor=actor, action="caption.submit", before=before, now=now)


def approve_caption(session: Session, *, actor: User, slide_id: int, language: str, now: datetime,
                    urgent: bool = False, if_match: str | None = None,
                    readable: Rules | None = None) -> CaptionRevision:
    """Four-eyes: nobody approves a text they wrote. The approved revision becomes live; the old one retires.

    `urgent` (Vietnamese only): show the new text at once on screens that show Vietnamese only; screens with
    translations keep the previous consistent set until the translations of this text are approved.
    """
    lang = _language(language)
    _require_reviewer(actor, lang)
    if urgent and lang != Language.VI:
        raise Invalid("only a Vietnamese text can be approved as urgent", field="urgent")
    _locked_slide(session, slide_id)
    entry = revisions.by_language(session, slide_id=slide_id).get(lang.value)
    if entry is None:
        raise NotFound("caption", f"{slide_id}/{lang.value}")
    if entry.pending is None:
        assert entry.live is not None  # noqa: S101
        if entry.live.author_id is not None and entry.live.author_id == actor.id:
            raise Forbidden("you wrote this caption; someone else must approve it", details={"rule": "four-eyes"})
        return entry.live  # already approved: nothing to do
    pending = entry.pending
    check_version(pending, if_match)
    if pending.author_id is not None and pending.author_id == actor.id:
        raise Forbidden("you wrote this caption; someone else must approve it", details={"rule": "four-eyes"})
    if pending.state != CaptionState.SUBMITTED:
        raise Conflict("caption is %(state)s; only a submitted caption can be approved",
                       details={"state": str(pending.state)}, params={"state": str(pending.state)})
    if entry.outdated:
        raise Conflict("this translation is of an older Vietnamese text; update it to the new text first",
                       details={"outdated": True})
    # Screens or their playlists may have changed since submission: check again before it can go live.
    # The readability check too: the deployment's rules (settings), else the documented defaults.
    preview.require_fits(session, slide=slides.get_slide(session, slide_id=slide_id), language=lang,
                         text=pending.text, readable=readable or Rules())
    if entry.live is not None:
        old = audit.snapshot(entry.live)
        entry.live.state = CaptionState.RETIRED
        _save(session, entry.live, actor=actor, action="caption.retire", before=old, now=now)
    before = audit.snapshot(pending)
    pending.state = CaptionState.APPROVED
    pending.approved_by_id = actor.id
    pending.approved_at = now
    pending.urgent = urgent
    pending.version += 1
    return _save(session, pending, actor=actor, action="caption.approve", before=before, now=now)


def return_caption(
    session: Session, *, actor: User, slide_id: int, language: str, reason: str, now: datetime
) -> CaptionRevision:
    """Send a submitted revision back to its writer with a reason; the live text stays on air."""
    lang = _language(language)
    _require_reviewer(actor, lang)
    why = reason.strip()
    if not why:
        raise Invalid("a returned caption needs a reason", field="reason")
    pending = _pending_or_conflict(session, slide_id, lang, "return")
    if pending.state != CaptionState.SUBMITTED:
        raise Conflict("caption is %(state)s; only a submitted caption can be returned",
                       details={"state": str(pending.state)}, params={"state": str(pending.state)})
    before = audit.snapshot(pending)
    pending.state = CaptionState.RETURNED
    pending.return_reason = why[:2000]
    pending.version += 1
    return _save(session, pending, actor=actor, action="caption.return", before=before, now=now)


def history(session: Session, *, slide_id: int, language: str) -> list[CaptionRevision]:
    """Every revision of a slide's caption in one language, newest first (the audit trail per revision)."""
    lang = _language(language)
    return list(session.exec(select(CaptionRevision).where(
        CaptionRevision.slide_id == slide_id, CaptionRevision.language == lang.value)
        .order_by(col(CaptionRevision.id).desc())).all())
