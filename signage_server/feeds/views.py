"""The data-feeds page: list, add, change, delete and read now, for the administrator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from signage_core.feeds import reading_texts
from signage_server.deps import KeyRingDep, NowDep, OptionalTransportDep, SessionDep
from signage_server.errors import NotFound, SignageError
from signage_server.feeds import service
from signage_server.feeds.models import DataFeed
from signage_server.feeds.routes import send_readings
from signage_server.feeds.sources import problem_words
from signage_server.users.models import Role
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
# Feeds make the server fetch addresses on the internet: the administrator's, like screens and users.
Admins = Annotated[Viewer, PageUser(Role.ADMIN)]
KIND_LABELS = {"temperature": "temperature", "rates": "exchange rates"}
Name = Annotated[str, Form(max_length=64)]
Kind = Annotated[str, Form(max_length=16)]
Url = Annotated[str, Form(max_length=500)]
PeriodS = Annotated[str, Form(max_length=12)]


def reading_text(feed: DataFeed) -> str:
    """The last reading as the strip prints it: "31 °C", "USD 25.430 ₫ · KHR 6,3 ₫"."""
    return " · ".join(reading_texts(feed.kind, feed.values or {}))


def _feed(request: Request, session: SessionDep, feed_id: int) -> DataFeed:
    try:
        return service.get_feed(session, feed_id=feed_id)
    except NotFound:
        raise PageError(404, gettext_for(request)("No such data feed.")) from None


def _period(request: Request, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise PageError(400, gettext_for(request)("The poll period must be a whole number of seconds.")) from None


def _kept(name: str, kind: str, url: str, period_s: str) -> dict[str, Any]:
    return {"name": name, "kind": kind, "url": url, "period_s": period_s}


@router.get("/feeds", response_class=HTMLResponse)
def feeds_page(request: Request, session: SessionDep, viewer: Admins) -> Response:
    feeds = service.list_feeds(session)
    return render(request, "feeds.html", viewer, feeds=feeds, kinds=KIND_LABELS, reading=reading_text,
                  problem=lambda text: problem_words(text, gettext_for(request)),
                  used={f.id: service.screens_using(session, name=f.name) for f in feeds},
                  min_period=service.MIN_PERIOD_S, max_period=service.MAX_PERIOD_S)


@router.post("/feeds")
def create_feed(request: Request, session: SessionDep, now: NowDep, viewer: Admins, name: Name, kind: Kind,
                url: Url, period_s: PeriodS) -> Response:
    try:
        with session.begin_nested():
            feed = service.create_feed(session, actor=viewer.user, name=name, kind=kind, url=url,
                                       period_s=_period(request, period_s), now=now)
    except SignageError as exc:
        return redirect(request, "/feeds", error_text(request, exc), "error", keep=_kept(name, kind, url, period_s))
    return redirect(request, f"/feeds/{feed.id}", gettext_for(request)("Data feed added."))


@router.get("/feeds/{feed_id}", response_class=HTMLResponse)
def feed_page(feed_id: int, request: Request, session: SessionDep, viewer: Admins) -> Response:
    feed = _feed(request, session, feed_id)
    return render(request, "feed.html", viewer, feed=feed, kinds=KIND_LABELS, reading=reading_text(feed),
                  problem=problem_words(feed.last_error, gettext_for(request)) if feed.last_error else "",
                  used=service.screens_using(session, name=feed.name),
                  min_period=service.MIN_PERIOD_S, max_period=service.MAX_PERIOD_S)


@router.post("/feeds/{feed_id}")
def update_feed(feed_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins, name: Name,
                kind: Kind, url: Url, period_s: PeriodS) -> Response:
    _feed(request, session, feed_id)
    try:
        with session.begin_nested():
            service.update_feed(session, actor=viewer.user, feed_id=feed_id, name=name, kind=kind, url=url,
                                period_s=_period(request, period_s), now=now)
    except SignageError as exc:
        return redirect(request, f"/feeds/{feed_id}", error_text(request, exc), "error",
                        keep=_kept(name, kind, url, period_s))
    return redirect(request, f"/feeds/{feed_id}", gettext_for(request)("Saved."))


@router.post("/feeds/{feed_id}/delete")
def delete_feed(feed_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins) -> Response:
    _feed(request, session, feed_id)
    try:
        with session.begin_nested():
            service.delete_feed(session, actor=viewer.user, feed_id=feed_id, now=now)
    except SignageError as exc:
        return redirect(request, f"/feeds/{feed_id}", error_text(request, exc), "error")
    return redirect(request, "/feeds", gettext_for(request)("Data feed deleted."))


@router.post("/feeds/{feed_id}/read")
def read_feed(feed_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
              transport: OptionalTransportDep, keys: KeyRingDep) -> Response:
    """Fetch the source now and say what came back: the reading, or why there is none."""
    _ = gettext_for(request)
    _feed(request, session, feed_id)
    with session.begin_nested():
        feed, changed = service.read_now(session, actor=viewer.user, feed_id=feed_id, now=now)
    if changed:
        send_readings(session, transport=transport, keys=keys, now=now)
    if feed.last_error:
        return redirect(request, f"/feeds/{feed_id}",
                        _("The source could not be read: %(error)s") % {"error": problem_words(feed.last_error, _)},
                        "error")
    return redirect(request, f"/feeds/{feed_id}", _("Read now: %(reading)s") % {"reading": reading_text(feed)})
