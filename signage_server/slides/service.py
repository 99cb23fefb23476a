"""Slides, their image, and approval of a slide as a whole (the last gate before a screen)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from signage_core.languages import Language, ordered
from signage_server.assets import service as assets
from signage_server.assets.store import AssetStore, ImageSource
from signage_server.audit import service as audit
from signage_server.captions import revisions
from signage_server.captions.models import CaptionRevision
from signage_server.errors import Conflict, Forbidden, Invalid, NotFound
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.playlists.models import PlaylistItem
from signage_server.screens.models import Enrolment, Screen
from signage_server.screens.service import languages_showing_playlist, screens_for_playlist
from signage_server.slides.models import Slide
from signage_server.users.models import Role, User


@dataclass(frozen=True)
class PublishStatus:
    publishable: bool
    required_languages: list[str]
    missing_languages: list[str]  # required but without an approved caption
    slide_approved: bool
    # Required languages whose live translation is of an older Vietnamese: the new Vietnamese waits for them.
    outdated_languages: list[str]
    # The revisions the screens show ({language: revision id}), empty when nothing consistent is approved.
    on_air: dict[str, int]


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


# --- finding slides: the list page and GET /api/v1/slides ------------------------------------

SHOWN = ("active", "retired", "all")  # which slides a list shows; retired ones only when asked
STATES = ("live", "pending", "outdated", "missing")  # a caption state per language, for the state filter


def folded(text: str) -> str:
    """Text as the search compares it: NFC/NFD-insensitive, without diacritics (đ is d), case-folded,
    so "quoc te" finds "quốc tế" and a caption typed in decomposed form is found by a composed query."""
    base = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return " ".join("".join(ch for ch in base if not unicodedata.combining(ch)).casefold().split())


def language_states(entries: dict[str, revisions.LanguageRevisions], languages: Iterable[str]) -> dict[str, list[str]]:
    """Per language, what a person needs to know: live (on air), pending (a new text in the workflow),
    outdated (translates an older Vietnamese; revisions.by_language decides), or missing."""
    out: dict[str, list[str]] = {}
    for code in languages:
        entry = entries.get(code)
        if entry is None:
            out[code] = ["missing"]
            continue
        out[code] = [name for name, on in (("live", entry.live is not None), ("pending", entry.pending is not None),
                                           ("outdated", entry.outdated)) if on]
    return out


@dataclass(frozen=True)
class Found:
    slide: Slide
    entries: dict[str, revisions.LanguageRevisions]
    states: dict[str, list[str]]

    @property
    def vi_text(self) -> tuple[str, str]:
        """The Vietnamese a person reads beside the slide: (text, "live"), else (pending text, "pending")."""
        vi = self.entries.get(Language.VI.value)
        if vi is None:
            return "", "missing"
        if vi.live is not None:
            return vi.live.text, "live"
        return (vi.pending.text if vi.pending else ""), "pending"


def languages_in_use(session: Session) -> list[Language]:
    """The languages a list of slides has columns for: Vietnamese, those some screen shows and those some
    caption is written in, in display order. A configured language nobody uses yet (Lao at a gate with
    no Lao screen) would only add a "none yet" to every row."""
    codes = {Language.VI.value}
    for shown in session.exec(select(Screen.languages).where(Screen.enrolment != Enrolment.REVOKED)).all():
        codes.update(shown)
    codes.update(session.exec(select(CaptionRevision.language).distinct()).all())
    return ordered({Language(code) for code in codes if code in Language})


def find_slides(session: Session, *, query: str = "", state: str = "", playlist_id: int | None = None,
                shown: str = "active", languages: Sequence[str] | None = None) -> list[Found]:
    """Slides matching a search (name and every live or pending caption, diacritic-insensitive), a caption
    state in some language, a playlist, and active/retired; by name. Bad filter values are refused."""
    if shown not in SHOWN:
        raise Invalid("shown must be one of: %(known)s", field="shown", params={"known": ", ".join(SHOWN)})
    if state and state not in STATES:
        raise Invalid("state must be one of: %(known)s", field="state", params={"known": ", ".join(STATES)})
    codes = list(languages) if languages is not None else [lang.value for lang in Language]
    stmt = select(Slide).order_by(col(Slide.name))
    if shown == "active":
        stmt = stmt.where(col(Slide.retired_at).is_(None))
    elif shown == "retired":
        stmt = stmt.where(col(Slide.retired_at).is_not(None))
    if playlist_id is not None:
        stmt = stmt.where(col(Slide.id).in_(select(PlaylistItem.slide_id).where(
            PlaylistItem.playlist_id == playlist_id)))
    words = folded(query).split()
    out = []
    for slide in session.exec(stmt).all():
        entries = revisions.by_language(session, slide_id=slide.id)  # type: ignore[arg-type]
        if words:
            haystack = folded(" ".join([slide.name, *(r.text for e in entries.values()
                                                      for r in (e.live, e.pending) if r is not None)]))
            if not all(word in haystack for word in words):
                continue
        states = language_states(entries, codes)
        if state and not any(state in found for found in states.values()):
            continue
        out.append(Found(slide, entries, states))
    return out


def captions_of(session: Session, *, slide_id: int) -> list[CaptionRevision]:
    """The slide's caption per language as writers see it (pending revision, else live), Vietnamese first."""
    return [entry.current for entry in revisions.by_language(session, slide_id=slide_id).values()]


def screens_showing(session: Session, *, slide_id: int) -> list[Screen]:
    """Every screen that may show this slide (its playlists as default or scheduled), revoked ones left out.

    The one answer to "screens showing this slide": required languages, validation and previews use it.
    """
    found: dict[int, Screen] = {}
    playlist_ids = set(session.exec(select(PlaylistItem.playlist_id).where(PlaylistItem.slide_id == slide_id)).all())
    for playlist_id in sorted(playlist_ids):
        for screen in screens_for_playlist(session, playlist_id=playlist_id):
            if screen.enrolment != Enrolment.REVOKED:
                found[screen.id] = screen  # type: ignore[index]
    return sorted(found.values(), key=lambda s: s.name)


def preview_screens(session: Session, *, slide_id: int) -> list[Screen]:
    """Where captions are previewed and validated: the screens showing the slide, or every screen when the
    slide is in no playlist yet (so it is written for the screens it may go to)."""
    showing = screens_showing(session, slide_id=slide_id)
    if showing:
        return showing
    return sorted((s for s in session.exec(select(Screen)).all() if s.enrolment != Enrolment.REVOKED),
                  key=lambda s: s.name)


def create_slide(
    session: Session, *, actor: User | None, name: str, asset_id: int | None = None, now: datetime
) -> Slide:
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    clean = _check_name(name)
    if find_slide(session, name=clean) is not None:
        raise Conflict("slide %(name)s exists", details={"field": "name"}, params={"name": repr(clean)})
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
    """Approval is of what was seen: a new image withdraws it (captions are approved per revision)."""
    if slide.approved_at is None:
        return
    _audited_change(session, slide, actor=actor, action="slide.approval_withdrawn", now=now,
                    changes={"approved_at": None, "approved_by_id": None}, why=why)


def _audited_change(session: Session, slide: Slide, *, actor: User | None, action: str, now: datetime,
                    changes: dict[str, object], why: str | None = None) -> None:
    """Set these slide columns, touch updated_at, flush, and record before/after (with the reason, if any)."""
    before = audit.snapshot(slide)
    for key, value in changes.items():
        setattr(slide, key, value)
    slide.updated_at = now
    session.add(slide)
    session.flush()
    after = audit.snapshot(slide) or {}
    audit.record(session, actor=actor, action=action, entity="slide", entity_id=slide.id, before=before,
                 after={**after, "why": why} if why is not None else after, now=now)


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
            raise Conflict("slide %(name)s exists", details={"field": "name"}, params={"name": repr(clean)})
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
    history = session.exec(select(CaptionRevision).where(CaptionRevision.slide_id == slide_id)
                           .order_by(col(CaptionRevision.id).desc())).all()
    for revision in history:  # newest first: a translation goes before the Vietnamese it points at
        session.delete(revision)
        session.flush()
    session.delete(slide)
    session.flush()
    audit.record(session, actor=actor, action="slide.delete", entity="slide", entity_id=slide_id,
                 before=before, after=None, now=now)


def retire_slide(session: Session, *, actor: User, slide_id: int, now: datetime) -> Slide:
    """Take a slide off every screen without losing it: its playlists' manifests leave it out (the compiler
    excludes retired slides; the Recompiler recompiles at commit), its captions, their history and its
    play records stay, and restore_slide brings it back as it was. Retiring twice changes nothing."""
    require_role(actor, Role.ADMIN, Role.OPERATOR)
    slide = get_slide(session, slide_id=slide_id)
    if slide.retired_at is not None:
        return slide
    _refuse_emptying_a_default(session, slide)
    _audited_change(session, slide, actor=actor, action="slide.retire", now=now,
                    changes={"retired_at": now, "retired_by_id": actor.id})
    return slide


def _refuse_emptying_a_default(session: Session, slide: Slide) -> None:
    """A screen whose default playlist would keep no publishable slide gets no new manifest (the compiler
    refuses an empty default) and would go on showing the retired slide: refuse, naming the screens, so the
    operator adds a slide first (or withdraws content at once with an urgent alert)."""
    if not publish_status(session, slide=slide).publishable:
        return  # not on air anyway: retiring it changes no screen
    playlist_ids = set(session.exec(select(PlaylistItem.playlist_id).where(PlaylistItem.slide_id == slide.id)).all())
    stranded: list[str] = []
    for screen in session.exec(select(Screen).where(col(Screen.default_playlist_id).in_(playlist_ids),
                                                    Screen.enrolment != Enrolment.REVOKED)).all():
        others = set(session.exec(select(PlaylistItem.slide_id).where(
            PlaylistItem.playlist_id == screen.default_playlist_id, PlaylistItem.slide_id != slide.id)).all())
        if not any((other := session.get(Slide, sid)) is not None and publish_status(session, slide=other).publishable
                   for sid in others):
            stranded.append(screen.name)
    if stranded:
        raise Conflict("retiring this slide would leave %(screens)s with nothing to show: add another approved "
                       "slide to the default playlist first", params={"screens": ", ".join(sorted(stranded))},
                       details={"screens": sorted(stranded)})


def restore_slide(session: Session, *, actor: User, slide_id: int, now: datetime) -> Slide:
    """Back on the screens whose playlists still hold it, with the approvals it had (nothing was changed)."""
    require_role(actor, Role.ADMIN, Role.OPERATOR)
    slide = get_slide(session, slide_id=slide_id)
    if slide.retired_at is None:
        return slide
    _audited_change(session, slide, actor=actor, action="slide.restore", now=now,
                    changes={"retired_at": None, "retired_by_id": None})
    return slide


def required_languages(session: Session, *, slide_id: int) -> list[Language]:
    """Vietnamese always, plus every language a screen that may show this slide displays."""
    needed: set[Language] = {Language.VI}
    playlist_ids = set(session.exec(select(PlaylistItem.playlist_id).where(PlaylistItem.slide_id == slide_id)).all())
    for playlist_id in playlist_ids:  # screens_showing's rule, reading the one column needed
        for codes in languages_showing_playlist(session, playlist_id=playlist_id):
            needed.update(Language(code) for code in codes)
    return ordered(needed)


def publish_status(session: Session, *, slide: Slide) -> PublishStatus:
    """Publishable when the slide is approved and a consistent set of approved captions covers every
    required language (revisions.consistent_set: the rule the manifest compiler applies too)."""
    sid: int = slide.id  # type: ignore[assignment]
    required = [lang.value for lang in required_languages(session, slide_id=sid)]
    current = revisions.by_language(session, slide_id=sid)
    missing = [code for code in required if code not in current or current[code].live is None]
    vi = current.get(Language.VI.value)
    live_vi = vi.live if vi is not None else None
    outdated = [code for code in required if code != Language.VI.value and live_vi is not None
                and code in current and (live := current[code].live) is not None and live.source_id != live_vi.id]
    on_air = revisions.consistent_set(revisions.approved_revisions(session, slide_ids=[sid])[sid], required)
    return PublishStatus(
        publishable=on_air is not None and slide.approved_at is not None and slide.retired_at is None,
        required_languages=required,
        missing_languages=missing,
        slide_approved=slide.approved_at is not None,
        outdated_languages=outdated,
        on_air={code: rev.id for code, rev in (on_air or {}).items()},
    )


def approve_slide(session: Session, *, actor: User, slide_id: int, now: datetime) -> Slide:
    """Four-eyes: the approver neither made the slide nor wrote any of its captions."""
    require_role(actor, Role.APPROVER)
    slide = get_slide(session, slide_id=slide_id)
    if slide.created_by_id is not None and slide.created_by_id == actor.id:
        raise Forbidden("you created this slide; another approver must approve it",
                        details={"rule": "four-eyes"})
    live = [entry.live for entry in revisions.by_language(session, slide_id=slide_id).values() if entry.live]
    if any(c.author_id is not None and c.author_id == actor.id for c in live):
        raise Forbidden("you wrote a caption on this slide; another approver must approve it",
                        details={"rule": "four-eyes"})
    status = publish_status(session, slide=slide)
    if status.missing_languages:
        raise Conflict(
            "captions not approved yet: %(languages)s", details={"missing_languages": status.missing_languages},
            params={"languages": ", ".join(status.missing_languages)},
        )
    if not status.on_air:
        raise Conflict(
            "no approved translations of one Vietnamese text in every language: %(languages)s",
            details={"outdated_languages": status.outdated_languages},
            params={"languages": ", ".join(status.outdated_languages)})
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
