"""Data feeds over the API: admins add, change, delete and read sources; everyone logged in sees their state."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from sqlmodel import Session

from signage_server.deps import CurrentUser, KeyRingDep, NowDep, OptionalTransportDep, SessionDep
from signage_server.feeds import service
from signage_server.feeds.schemas import FeedCreate, FeedRead
from signage_server.manifests.keys import KeyRing
from signage_server.transport.hooks import after_commit
from signage_server.transport.service import TransportService

router = APIRouter(tags=["feeds"])


def send_readings(session: Session, *, transport: TransportService | None, keys: KeyRing, now: datetime) -> None:
    """After a read by hand: the screens get the new readings once they commit (the job sends only its own)."""
    if transport is None:
        return
    messages = service.feed_messages(session, key=keys.current(), now=now)
    if messages:
        after_commit(session, lambda: transport.publish_feeds(messages))


@router.get("/feeds")
def list_feeds(session: SessionDep, user: CurrentUser) -> list[FeedRead]:
    return [FeedRead.model_validate(f) for f in service.list_feeds(session)]


@router.post("/feeds", status_code=status.HTTP_201_CREATED)
def create_feed(body: FeedCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> FeedRead:
    feed = service.create_feed(session, actor=user, name=body.name, kind=body.kind, url=body.url,
                               period_s=body.period_s, now=now)
    return FeedRead.model_validate(feed)


@router.get("/feeds/{feed_id}")
def get_feed(feed_id: int, session: SessionDep, user: CurrentUser) -> FeedRead:
    return FeedRead.model_validate(service.get_feed(session, feed_id=feed_id))


@router.put("/feeds/{feed_id}")
def update_feed(feed_id: int, body: FeedCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> FeedRead:
    """Every field at once (the page's form); 409 when renaming or re-kinding a feed a strip reads."""
    feed = service.update_feed(session, actor=user, feed_id=feed_id, name=body.name, kind=body.kind, url=body.url,
                               period_s=body.period_s, now=now)
    return FeedRead.model_validate(feed)


@router.delete("/feeds/{feed_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_feed(feed_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> Response:
    service.delete_feed(session, actor=user, feed_id=feed_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/feeds/{feed_id}/read")
def read_feed(feed_id: int, session: SessionDep, user: CurrentUser, now: NowDep, transport: OptionalTransportDep,
              keys: KeyRingDep) -> FeedRead:
    """Fetch the source now; a failure is not an HTTP error: it is the feed's last_error, as the job keeps it."""
    feed, changed = service.read_now(session, actor=user, feed_id=feed_id, now=now)
    if changed:
        send_readings(session, transport=transport, keys=keys, now=now)
    return FeedRead.model_validate(feed)
