"""Data feeds over the API: admins add sources; everyone logged in sees their last reading and error."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlmodel import col, select

from signage_server.deps import CurrentUser, NowDep, SessionDep
from signage_server.feeds import service
from signage_server.feeds.models import DataFeed
from signage_server.feeds.schemas import FeedCreate, FeedRead

router = APIRouter(tags=["feeds"])


@router.get("/feeds")
def list_feeds(session: SessionDep, user: CurrentUser) -> list[FeedRead]:
    return [FeedRead.model_validate(f) for f in session.exec(select(DataFeed).order_by(col(DataFeed.name))).all()]


@router.post("/feeds", status_code=status.HTTP_201_CREATED)
def create_feed(body: FeedCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> FeedRead:
    feed = service.create_feed(session, actor=user, name=body.name, kind=body.kind, url=body.url,
                               period_s=body.period_s, now=now)
    return FeedRead.model_validate(feed)
