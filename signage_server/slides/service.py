"""Slides, their image, and approval of a slide as a whole (the last gate before a screen)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from signage_core.languages import Language, ordered
from signage_server.assets import service as assets
from signage_server.assets.store import AssetStore, ImageSource
from signage_server.audit import service as audit
from signage_server.captions.models import Caption, CaptionState
from signage_server.errors import Conflict, Forbidden, Invalid, NotFound
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.playlists.models import PlaylistItem
from signage_server.screens.service import screens_for_playlist
from signage_server.slides.models import Slide
from signage_server.users.models import Role, User


@dataclass(frozen=True)
class PublishStatus:
    publishable: bool
    required_languages: list[str]
    missing_languages: list[str]  # required but without an approved caption
    slide_approved: bool


def _check_name(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 100:
        raise Invalid("name must be 1-100 characters", field="name")
    return name


def get_slide(session: Session, *, slide_id: int) -> Slide:
    slide = session.get(Slide, slide_id)
    if slide is None:
        raise NotFound("slide", slide_id)
    return slide


def find_slide(session: Session, *, name: str) -> Slide | None:
    return session.exec(select(Slide).where(Slide.name == name)).first()


def list_slides(session: Session, *, limit: int, offset: int) -> tuple[list[Slide], int]:
    return paginate(session, select(Slide).order_by(col(Slide.name)), limit=limit, offset=offset)


def captions_of(session: Session, *, slide_id: int) -> list[Caption]:
    """The slide's captions in display order, Vietnamese first."""
    rows = {c.language: c for c in session.exec(select(Caption).where(Caption.slide_id == slide_id)).all()}
    return [rows[lang.value] for lang in ordered(list(map(Language, rows)))]


def create_slide(
    session: Session, *, actor: User | None, name: str, asset_id: int | None = None, now: datetime
) -> Slide:
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    clean = _check_name(name)
    if find_slide(session, name=clean) is not None:
        raise Conflict(f"slide {clean!r} exists", details={"field": "name"})
    if asset_id is not None:
        assets.get_asset(session, asset_id=asset_id)
    slide = Slide(name=clean, asset_id=asset_id, created_by_id=actor.id if actor else None,
                  created_at=now, updated_at=now)
    session.add(slide)
    session.flush()
    audit.record(session, actor=actor, action="slide.create", entity="slide", entity_id=slide.id,
                 before=None, after=audit.snapshot(slide), now=now)
    return slide


def clear_approval(session: Session, *, slide: Slide, actor: User | None, why: str, now: datetime) -> None:
    """Approval is of what was seen: any change to the slide or a caption withdraws it."""
    if slide.approved_at is None:
        return
    before = audit.snapshot(slide)
    slide.approved_at = None
    slide.approved_by_id = None
    slide.updated_at = now
    session.add(slide)
    session.flush()
    audit.record(session, actor=actor, action="slide.approval_withdrawn", entity="slide", entity_id=slide.id,
                 before=before, after={**(audit.snapshot(slide) or {}), "why": why}, now=now)


def update_slide(
    session: Session, *, actor: User | None, slide_id: int, fields: dict[str, Any], now: datetime
) -> Slide:
    """Rename or change the image; a new image withdraws the slide's approval."""
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    slide = get_slide(session, slide_id=slide_id)
    before = audit.snapshot(slide)
    if "name" in fields:
        clean = _check_name(fields["name"])
        other = find_slide(session, name=clean)
        if other is not None and other.id != slide.id:
            raise Conflict(f"slide {clean!r} exists", details={"field": "name"})
        slide.name = clean
    image_changed = False
    if "asset_id" in fields and fields["asset_id"] != slide.asset_id:
        if fields["asset_id"] is not None:
            assets.get_asset(session, asset_id=fields["asset_id"])
        slide.asset_id = fields["asset_id"]
        image_changed = True
    if audit.snapshot(slide) == before:
        return slide
    slide.updated_at = now
    session.add(slide)
    session.flush()
    audit.record(session, actor=actor, action="slide.update", entity="slide", entity_id=slide.id,
                 before=before, after=audit.snapshot(slide), now=now)
    if image_changed:
        clear_approval(session, slide=slide, actor=actor, why="image changed", now=now)
    return slide


def set_slide_image(
    session: Session, *, actor: User, slide_id: int, store: AssetStore, data: ImageSource,
    max_bytes: int, max_pixels: int, now: datetime,
) -> Slide:
    """Upload an image for a slide: stored once by hash, then linked."""
    require_role(actor, Role.ADMIN, Role.OPERATOR)
    get_slide(session, slide_id=slide_id)
    asset, _new = assets.store_image(session, actor=actor, store=store, data=data,
                                     max_bytes=max_bytes, max_pixels=max_pixels, now=now)
    return update_slide(session, actor=actor, slide_id=slide_id, fields={"asset_id": asset.id}, now=now)


def delete_slide(session: Session, *, actor: User, slide_id: int, now: datetime) -> None:
    require_role(actor, Role.ADMIN, Role.OPERATOR)
    slide = get_slide(session, slide_id=slide_id)
    if session.exec(select(PlaylistItem.id).where(PlaylistItem.slide_id == slide_id)).first() is not None:
        raise Conflict("slide is in a playlist; remove it there first", details={"entity": "slide"})
    before = audit.snapshot(slide)
    for caption in captions_of(session, slide_id=slide_id):
        session.delete(caption)
    session.delete(slide)
    session.flush()
    audit.record(session, actor=actor, action="slide.delete", entity="slide", entity_id=slide_id,
                 before=before, after=None, now=now)


def required_languages(session: Session, *, slide_id: int) -> list[Language]:
    """Vietnamese always, plus every language a screen that may show this slide displays."""
    needed: set[Language] = {Language.VI}
    playlist_ids = set(session.exec(select(PlaylistItem.playlist_id).where(PlaylistItem.slide_id == slide_id)).all())
    for playlist_id in playlist_ids:
        for screen in screens_for_playlist(session, playlist_id=playlist_id):
            needed.update(Language(code) for code in screen.languages)
    return ordered(needed)


def publish_status(session: Session, *, slide: Slide) -> PublishStatus:
    """Publishable when every required language has an approved caption and the slide is approved."""
    required = required_languages(session, slide_id=slide.id)  # type: ignore[arg-type]
    approved = {c.language for c in captions_of(session, slide_id=slide.id)  # type: ignore[arg-type]
                if c.state == CaptionState.APPROVED}
    missing = [lang.value for lang in required if lang.value not in approved]
    return PublishStatus(
        publishable=not missing and slide.approved_at is not None,
        required_languages=[lang.value for lang in required],
        missing_languages=missing,
        slide_approved=slide.approved_at is not None,
    )


def approve_slide(session: Session, *, actor: User, slide_id: int, now: datetime) -> Slide:
    """Four-eyes: the approver neither made the slide nor wrote any of its captions."""
    require_role(actor, Role.APPROVER)
    slide = get_slide(session, slide_id=slide_id)
    if slide.created_by_id is not None and slide.created_by_id == actor.id:
        raise Forbidden("you created this slide; another approver must approve it",
                        details={"rule": "four-eyes"})
    captions = captions_of(session, slide_id=slide_id)
    if any(c.author_id is not None and c.author_id == actor.id for c in captions):
        raise Forbidden("you wrote a caption on this slide; another approver must approve it",
                        details={"rule": "four-eyes"})
    status = publish_status(session, slide=slide)
    if status.missing_languages:
        raise Conflict(
            "captions not approved yet: " + ", ".join(status.missing_languages),
            details={"missing_languages": status.missing_languages},
        )
    if slide.approved_at is not None:
        return slide
    before = audit.snapshot(slide)
    slide.approved_by_id = actor.id
    slide.approved_at = now
    slide.updated_at = now
    session.add(slide)
    session.flush()
    audit.record(session, actor=actor, action="slide.approve", entity="slide", entity_id=slide.id,
                 before=before, after=audit.snapshot(slide), now=now)
    return slide
