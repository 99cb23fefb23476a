"""Playlists: an ordered list of slides with durations, replaced as a whole on edit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from signage_server.audit import service as audit
from signage_server.errors import Conflict, Invalid, NotFound
from signage_server.manifests import changes
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.playlists.models import Playlist, PlaylistItem
from signage_server.schedules.models import Schedule
from signage_server.screens.models import Screen
from signage_server.slides import preview
from signage_server.slides.models import Slide
from signage_server.slides.readability import Rules
from signage_server.users.models import Role, User

MIN_DURATION_S = 1.0
MAX_DURATION_S = 3600.0
MAX_ITEMS = 500


@dataclass(frozen=True)
class ItemSpec:
    slide_id: int
    duration_s: float


def _check_name(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 100:
        raise Invalid("name must be 1-100 characters", field="name")
    return name


def get_playlist(session: Session, *, playlist_id: int) -> Playlist:
    playlist = session.get(Playlist, playlist_id)
    if playlist is None:
        raise NotFound("playlist", playlist_id)
    return playlist


def find_playlist(session: Session, *, name: str) -> Playlist | None:
    return session.exec(select(Playlist).where(Playlist.name == name)).first()


def list_playlists(session: Session, *, limit: int, offset: int) -> tuple[list[Playlist], int]:
    return paginate(session, select(Playlist).order_by(col(Playlist.name)), limit=limit, offset=offset)


def items_of(session: Session, *, playlist_id: int) -> list[PlaylistItem]:
    return list(session.exec(
        select(PlaylistItem).where(PlaylistItem.playlist_id == playlist_id).order_by(col(PlaylistItem.position))
    ).all())


def _snapshot(session: Session, playlist: Playlist) -> dict[str, Any]:
    data = audit.snapshot(playlist) or {}
    data["items"] = [{"slide_id": i.slide_id, "duration_s": i.duration_s}
                     for i in items_of(session, playlist_id=playlist.id)]  # type: ignore[arg-type]
    return data


def _check_items(session: Session, items: Sequence[ItemSpec]) -> None:
    if len(items) > MAX_ITEMS:
        raise Invalid("at most %(max)s items", field="items", params={"max": MAX_ITEMS})
    for index, item in enumerate(items):
        if not MIN_DURATION_S <= item.duration_s <= MAX_DURATION_S:
            raise Invalid("duration must be %(min)s-%(max)s s", field=f"items.{index}.duration_s",
                          params={"min": f"{MIN_DURATION_S:g}", "max": f"{MAX_DURATION_S:g}"})
        if session.get(Slide, item.slide_id) is None:
            raise Invalid("slide %(id)s does not exist", field=f"items.{index}.slide_id", params={"id": item.slide_id})


def _replace_items(session: Session, playlist_id: int, items: Sequence[ItemSpec]) -> None:
    changes.note_changes(session, kind="playlist", ids=[playlist_id])  # the bulk delete hides the old items
    session.exec(delete(PlaylistItem).where(col(PlaylistItem.playlist_id) == playlist_id))
    session.flush()
    for position, item in enumerate(items):
        session.add(PlaylistItem(playlist_id=playlist_id, slide_id=item.slide_id,
                                 position=position, duration_s=item.duration_s))
    session.flush()


def short_items(session: Session, *, playlist_id: int, rules: Rules | None = None) -> list[preview.ShortItem]:
    """Every item of the playlist shown for less time than its text takes to read on a screen showing it."""
    out: list[preview.ShortItem] = []
    for item in items_of(session, playlist_id=playlist_id):
        out += preview.too_short(session, slide_id=item.slide_id, duration_s=item.duration_s, rules=rules)
    return out


def _refuse_short(session: Session, items: Sequence[ItemSpec], before: list[dict[str, Any]],
                  readable: Rules | None) -> None:
    """With the readability rule set to refuse, an added or shortened item too brief to read is refused (items
    already there are warned about by the page, never a reason to refuse an unrelated edit)."""
    if readable is None or not readable.refuse:
        return
    had: dict[int, float] = {}
    for row in before:
        had[row["slide_id"]] = min(row["duration_s"], had.get(row["slide_id"], float("inf")))
    seen: set[tuple[int, float]] = set()
    for index, item in enumerate(items):
        key = (item.slide_id, float(item.duration_s))
        if key in seen or float(item.duration_s) >= had.get(item.slide_id, float("inf")):
            continue
        seen.add(key)
        found = preview.too_short(session, slide_id=item.slide_id, duration_s=float(item.duration_s), rules=readable)
        if found:
            short = found[0]
            raise Invalid(
                "slide %(slide)s needs about %(needed)s s to be read on %(screen)s but its text is shown for "
                "%(shown)s s; give it more time or shorten its text", field=f"items.{index}.duration_s",
                params={"slide": repr(short.slide.name), "screen": short.screen.label,
                        "needed": short.problem.params["needed"], "shown": f"{short.problem.params['shown']:g}"},
                details={"slide_id": item.slide_id, "screen_id": short.screen.id})


def _display_name(value: str) -> str:
    """Optional, up to 200 characters; blank means the pages show the identifier."""
    text = " ".join(value.split())
    if len(text) > 200:
        raise Invalid("display name must be at most 200 characters", field="display_name")
    return text


def create_playlist(
    session: Session, *, actor: User | None, name: str, description: str = "",
    items: Sequence[ItemSpec] = (), display_name: str = "", readable: Rules | None = None, now: datetime,
) -> Playlist:
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    clean = _check_name(name)
    if find_playlist(session, name=clean) is not None:
        raise Conflict("playlist %(name)s exists", details={"field": "name"}, params={"name": repr(clean)})
    _check_items(session, items)
    playlist = Playlist(name=clean, description=description.strip(), display_name=_display_name(display_name),
                        created_at=now, updated_at=now)
    session.add(playlist)
    session.flush()
    _replace_items(session, playlist.id, items)  # type: ignore[arg-type]
    _refuse_short(session, items, [], readable)
    audit.record(session, actor=actor, action="playlist.create", entity="playlist", entity_id=playlist.id,
                 before=None, after=_snapshot(session, playlist), now=now)
    return playlist


def update_playlist(
    session: Session, *, actor: User | None, playlist_id: int, name: str | None = None,
    description: str | None = None, items: Sequence[ItemSpec] | None = None, display_name: str | None = None,
    readable: Rules | None = None, now: datetime,
) -> Playlist:
    """Rename, re-describe or replace the items; an unchanged request writes nothing. With `readable`, an item
    added or shortened below its text's reading time is refused when the rule says so."""
    if actor is not None:
        require_role(actor, Role.ADMIN, Role.OPERATOR)
    playlist = get_playlist(session, playlist_id=playlist_id)
    before = _snapshot(session, playlist)
    if name is not None:
        clean = _check_name(name)
        other = find_playlist(session, name=clean)
        if other is not None and other.id != playlist.id:
            raise Conflict("playlist %(name)s exists", details={"field": "name"}, params={"name": repr(clean)})
        playlist.name = clean
    if description is not None:
        playlist.description = description.strip()
    if display_name is not None:
        playlist.display_name = _display_name(display_name)
    if items is not None:
        _check_items(session, items)
        wanted = [{"slide_id": i.slide_id, "duration_s": float(i.duration_s)} for i in items]
        if wanted != before["items"]:
            _replace_items(session, playlist_id, items)
            _refuse_short(session, items, before["items"], readable)
    after = _snapshot(session, playlist)
    if after == before:
        return playlist
    playlist.updated_at = now
    session.add(playlist)
    session.flush()
    audit.record(session, actor=actor, action="playlist.update", entity="playlist", entity_id=playlist.id,
                 before=before, after=_snapshot(session, playlist), now=now)
    return playlist


def delete_playlist(session: Session, *, actor: User, playlist_id: int, now: datetime) -> None:
    require_role(actor, Role.ADMIN, Role.OPERATOR)
    playlist = get_playlist(session, playlist_id=playlist_id)
    if session.exec(select(Screen.id).where(Screen.default_playlist_id == playlist_id)).first() is not None:
        raise Conflict("a screen uses this playlist as its default", details={"entity": "playlist"})
    if session.exec(select(Schedule.id).where(Schedule.playlist_id == playlist_id)).first() is not None:
        raise Conflict("a schedule plays this playlist", details={"entity": "playlist"})
    before = _snapshot(session, playlist)
    changes.note_changes(session, kind="playlist", ids=[playlist_id])
    session.exec(delete(PlaylistItem).where(col(PlaylistItem.playlist_id) == playlist_id))
    session.delete(playlist)
    session.flush()
    audit.record(session, actor=actor, action="playlist.delete", entity="playlist", entity_id=playlist_id,
                 before=before, after=None, now=now)
