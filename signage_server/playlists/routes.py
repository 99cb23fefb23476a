"""HTTP for playlists."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from sqlmodel import Session

from signage_server.deps import CurrentUser, NowDep, SessionDep, app_settings
from signage_server.pagination import Page, PageDep
from signage_server.playlists import service
from signage_server.playlists.models import Playlist
from signage_server.playlists.schemas import (
    ItemIn,
    ItemRead,
    PlaylistCreate,
    PlaylistRead,
    PlaylistUpdate,
)

router = APIRouter(tags=["playlists"])


def _out(session: Session, playlist: Playlist) -> PlaylistRead:
    items = [ItemRead.model_validate(i) for i in service.items_of(session, playlist_id=playlist.id)]  # type: ignore[arg-type]
    return PlaylistRead.model_validate({**playlist.model_dump(), "items": items})


def _specs(items: list[ItemIn]) -> list[service.ItemSpec]:
    return [service.ItemSpec(slide_id=i.slide_id, duration_s=i.duration_s) for i in items]


@router.get("/playlists", response_model=Page[PlaylistRead])
def list_playlists(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[PlaylistRead]:
    items, total = service.list_playlists(session, limit=page.limit, offset=page.offset)
    return Page(items=[_out(session, p) for p in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/playlists", status_code=status.HTTP_201_CREATED)
def create_playlist(body: PlaylistCreate, request: Request, session: SessionDep, user: CurrentUser,
                    now: NowDep) -> PlaylistRead:
    playlist = service.create_playlist(session, actor=user, name=body.name, description=body.description,
                                       items=_specs(body.items), readable=app_settings(request).readability,
                                       now=now)
    return _out(session, playlist)


@router.get("/playlists/{playlist_id}")
def get_playlist(playlist_id: int, session: SessionDep, user: CurrentUser) -> PlaylistRead:
    return _out(session, service.get_playlist(session, playlist_id=playlist_id))


@router.patch("/playlists/{playlist_id}")
def update_playlist(playlist_id: int, body: PlaylistUpdate, request: Request, session: SessionDep,
                    user: CurrentUser, now: NowDep) -> PlaylistRead:
    playlist = service.update_playlist(
        session, actor=user, playlist_id=playlist_id, name=body.name, description=body.description,
        items=_specs(body.items) if body.items is not None else None,
        readable=app_settings(request).readability, now=now)
    return _out(session, playlist)


@router.delete("/playlists/{playlist_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_playlist(playlist_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
    service.delete_playlist(session, actor=user, playlist_id=playlist_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
