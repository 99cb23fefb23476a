"""The caption workflow: draft -> submitted -> approved, or returned with a reason; four-eyes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from signage_core.languages import Language, parse_language
from signage_core.text import normalize_caption
from signage_server.audit import service as audit
from signage_server.captions.models import Caption, CaptionState
from signage_server.captions.rendering import require_renderable
from signage_server.errors import Conflict, Forbidden, Invalid, NotFound
from signage_server.permissions import can_review_language, can_write_language
from signage_server.slides import service as slides
from signage_server.users.models import User

MAX_CAPTION_CHARS = 1000
# Newline separates lines and ZWSP marks Khmer break points; other control characters are typos.
_ALLOWED_CONTROLS = {"\n", "\u200b", "\u200c", "\u200d"}


def _language(code: str) -> Language:
    try:
        return parse_language(code)
    except ValueError as exc:
        raise Invalid(str(exc), field="language") from None


def clean_text(text: str) -> str:
    """NFC, trimmed, bounded, without stray control characters."""
    value = normalize_caption(text)
    if not value:
        raise Invalid("caption text is empty", field="text")
    if len(value) > MAX_CAPTION_CHARS:
        raise Invalid(f"caption is {len(value)} characters; at most {MAX_CAPTION_CHARS}", field="text")
    bad = sorted({f"U+{ord(ch):04X}" for ch in value
                  if (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0) and ch not in _ALLOWED_CONTROLS})
    if bad:
        raise Invalid("caption contains control characters: " + ", ".join(bad), field="text")
    return value


def find_caption(session: Session, *, slide_id: int, language: str) -> Caption | None:
    lang = _language(language)
    return session.exec(
        select(Caption).where(Caption.slide_id == slide_id, Caption.language == lang.value)
    ).first()


def get_caption(session: Session, *, slide_id: int, language: str) -> Caption:
    slides.get_slide(session, slide_id=slide_id)
    caption = find_caption(session, slide_id=slide_id, language=language)
    if caption is None:
        raise NotFound("caption", f"{slide_id}/{language}")
    return caption


def _require_writer(actor: User | None, lang: Language) -> None:
    if actor is not None and not can_write_language(actor, lang):
        raise Forbidden(f"{actor.username} may not write {lang.value} captions",
                        details={"language": lang.value})


def _require_reviewer(actor: User, lang: Language) -> None:
    if not can_review_language(actor, lang):
        raise Forbidden(f"{actor.username} may not review {lang.value} captions",
                        details={"language": lang.value})


def _save(session: Session, caption: Caption, *, actor: User | None, action: str,
          before: dict[str, object] | None, now: datetime) -> Caption:
    caption.updated_at = now
    session.add(caption)
    session.flush()
    audit.record(session, actor=actor, action=action, entity="caption", entity_id=caption.id,
                 before=before, after=audit.snapshot(caption), now=now)
    return caption


def write_caption(
    session: Session, *, actor: User | None, slide_id: int, language: str, text: str,
    submit: bool = False, now: datetime,
) -> Caption:
    """Create or edit a caption; editing an approved one reopens it (approval is of a text)."""
    lang = _language(language)
    _require_writer(actor, lang)
    slide = slides.get_slide(session, slide_id=slide_id)
    value = clean_text(text)
    caption = find_caption(session, slide_id=slide_id, language=lang.value)
    if submit or (caption is not None and caption.state in (CaptionState.SUBMITTED, CaptionState.APPROVED)):
        require_renderable(session, slide=slide, language=lang, text=value)  # review sees only showable text
    if caption is None:
        caption = Caption(slide_id=slide_id, language=lang.value, text=value,
                          state=CaptionState.SUBMITTED if submit else CaptionState.DRAFT,
                          author_id=actor.id if actor else None, updated_at=now)
        return _save(session, caption, actor=actor, action="caption.create", before=None, now=now)
    if caption.text == value and (not submit or caption.state in (CaptionState.SUBMITTED, CaptionState.APPROVED)):
        return caption  # same text: nothing to review again
    before = audit.snapshot(caption)
    was_approved = caption.state == CaptionState.APPROVED
    caption.text = value
    caption.author_id = actor.id if actor else None
    if submit or was_approved or caption.state == CaptionState.SUBMITTED:
        caption.state = CaptionState.SUBMITTED
    else:
        caption.state = CaptionState.DRAFT
    caption.approved_by_id = None
    caption.approved_at = None
    caption.return_reason = None
    _save(session, caption, actor=actor, action="caption.edit", before=before, now=now)
    slides.clear_approval(session, slide=slide, actor=actor, why=f"{lang.value} caption edited", now=now)
    return caption


def submit_caption(session: Session, *, actor: User, slide_id: int, language: str, now: datetime) -> Caption:
    """Hand a draft (or a returned caption) to review."""
    lang = _language(language)
    _require_writer(actor, lang)
    caption = get_caption(session, slide_id=slide_id, language=lang.value)
    if caption.state == CaptionState.SUBMITTED:
        return caption
    if caption.state == CaptionState.APPROVED:
        raise Conflict("caption is already approved", details={"state": str(caption.state)})
    require_renderable(session, slide=slides.get_slide(session, slide_id=slide_id), language=lang, text=caption.text)
    before = audit.snapshot(caption)
    caption.state = CaptionState.SUBMITTED
    caption.return_reason = None
    return _save(session, caption, actor=actor, action="caption.submit", before=before, now=now)


def approve_caption(session: Session, *, actor: User, slide_id: int, language: str, now: datetime) -> Caption:
    """Four-eyes: nobody approves a text they wrote."""
    lang = _language(language)
    _require_reviewer(actor, lang)
    caption = get_caption(session, slide_id=slide_id, language=lang.value)
    if caption.author_id is not None and caption.author_id == actor.id:
        raise Forbidden("you wrote this caption; someone else must approve it", details={"rule": "four-eyes"})
    if caption.state == CaptionState.APPROVED:
        return caption
    if caption.state != CaptionState.SUBMITTED:
        raise Conflict(f"caption is {caption.state}; only a submitted caption can be approved",
                       details={"state": str(caption.state)})
    # Screens or their playlists may have changed since submission: check again before it can go live.
    require_renderable(session, slide=slides.get_slide(session, slide_id=slide_id), language=lang, text=caption.text)
    before = audit.snapshot(caption)
    caption.state = CaptionState.APPROVED
    caption.approved_by_id = actor.id
    caption.approved_at = now
    return _save(session, caption, actor=actor, action="caption.approve", before=before, now=now)


def return_caption(
    session: Session, *, actor: User, slide_id: int, language: str, reason: str, now: datetime
) -> Caption:
    """Send a caption back to its writer with a reason they can act on."""
    lang = _language(language)
    _require_reviewer(actor, lang)
    why = reason.strip()
    if not why:
        raise Invalid("a returned caption needs a reason", field="reason")
    caption = get_caption(session, slide_id=slide_id, language=lang.value)
    if caption.state not in (CaptionState.SUBMITTED, CaptionState.APPROVED):
        raise Conflict(f"caption is {caption.state}; only a submitted or approved caption can be returned",
                       details={"state": str(caption.state)})
    before = audit.snapshot(caption)
    caption.state = CaptionState.RETURNED
    caption.return_reason = why[:2000]
    caption.approved_by_id = None
    caption.approved_at = None
    _save(session, caption, actor=actor, action="caption.return", before=before, now=now)
    slides.clear_approval(session, slide=slides.get_slide(session, slide_id=slide_id), actor=actor,
                          why=f"{lang.value} caption returned", now=now)
    return caption
