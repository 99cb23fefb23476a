"""Data feeds: poll a source (sources.py), keep its last good reading, and sign each strip's readings per screen."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from signage_core.feeds import FeedBody, FeedKind, Reading, sign_feed
from signage_core.signing import SigningKey
from signage_server.audit import service as audit
from signage_server.errors import Conflict, Invalid, NotFound
from signage_server.feeds.models import DataFeed
from signage_server.feeds.sources import Fetch, fetch_http, parse_reading
from signage_server.permissions import require_role
from signage_server.screens.models import Enrolment, Screen
from signage_server.transport.ids import screen_wire_id
from signage_server.users.models import Role, User

log = logging.getLogger(__name__)
FEED_KINDS: tuple[str, ...] = get_args(FeedKind)
MIN_PERIOD_S, MAX_PERIOD_S = 60, 86_400
# A feed message is valid this long; each widget's own limit decides what is shown.
FEED_MESSAGE_VALIDITY = timedelta(days=7)


def _checked(*, name: str, kind: str, url: str, period_s: int) -> tuple[str, str, str, int]:
    """The fields as stored, or a refusal naming the field."""
    name, url = name.strip(), url.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise Invalid("feed name must be 1-64 letters, digits, - or _", field="name")
    if kind not in FEED_KINDS:
        raise Invalid("feed kind must be temperature or rates", field="kind")
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[" and the like
        usable = False
    if not usable or len(url) > 500:
        raise Invalid("feed URL must be an http or https address", field="url")
    if not MIN_PERIOD_S <= period_s <= MAX_PERIOD_S:
        raise Invalid("poll period must be between %(min)s and %(max)s seconds", field="period_s",
                      params={"min": MIN_PERIOD_S, "max": MAX_PERIOD_S})
    return name, kind, url, period_s


def _refuse_taken(session: Session, name: str, *, other_than: int | None = None) -> None:
    found = session.exec(select(DataFeed).where(DataFeed.name == name)).first()
    if found is not None and found.id != other_than:
        raise Conflict("data feed %(name)s exists", details={"field": "name"}, params={"name": repr(name)})


def _fields(feed: DataFeed) -> dict[str, Any]:
    return {"name": feed.name, "kind": feed.kind, "url": feed.url, "period_s": feed.period_s}


def create_feed(session: Session, *, actor: User, name: str, kind: str, url: str, period_s: int,
                now: datetime) -> DataFeed:
    require_role(actor, Role.ADMIN)
    name, kind, url, period_s = _checked(name=name, kind=kind, url=url, period_s=period_s)
    _refuse_taken(session, name)
    feed = DataFeed(name=name, kind=kind, url=url, period_s=period_s, created_at=now)
    session.add(feed)
    session.flush()
    audit.record(session, actor=actor, action="feed.create", entity="feed", entity_id=feed.id, before=None,
                 after=_fields(feed), now=now)
    return feed


def get_feed(session: Session, *, feed_id: int) -> DataFeed:
    feed = session.get(DataFeed, feed_id)
    if feed is None:
        raise NotFound("data feed", feed_id)
    return feed


def list_feeds(session: Session) -> list[DataFeed]:
    return list(session.exec(select(DataFeed).order_by(col(DataFeed.name))).all())


def screens_using(session: Session, *, name: str) -> list[Screen]:
    """Screens whose strip has a widget reading this feed (screens.zones; a few zoned screens, read in Python)."""
    zoned = session.exec(select(Screen).where(col(Screen.zones).is_not(None)).order_by(col(Screen.name))).all()
    return [s for s in zoned if name in _feeds_of(s)]


def _in_use(session: Session, feed: DataFeed) -> dict[str, Any] | None:
    """The refusal's values when a strip still reads this feed: which screens, by the names people know."""
    users = screens_using(session, name=feed.name)
    return {"name": feed.name, "screens": ", ".join(s.label for s in users)} if users else None


def update_feed(session: Session, *, actor: User, feed_id: int, name: str, kind: str, url: str, period_s: int,
                now: datetime) -> DataFeed:
    """Change a feed; a new name or kind while a strip reads it is refused, a new source is read afresh."""
    require_role(actor, Role.ADMIN)
    feed = get_feed(session, feed_id=feed_id)
    name, kind, url, period_s = _checked(name=name, kind=kind, url=url, period_s=period_s)
    before = _fields(feed)
    used = _in_use(session, feed) if (name, kind) != (feed.name, feed.kind) else None
    if used and name != feed.name:
        raise Conflict("data feed %(name)s is shown on the strip of %(screens)s: take it off those strips before "
                       "renaming it", details={"field": "name"}, params=used)
    if used:
        raise Conflict("data feed %(name)s is shown on the strip of %(screens)s: take it off those strips before "
                       "changing its kind", details={"field": "kind"}, params=used)
    if name != feed.name:
        _refuse_taken(session, name, other_than=feed.id)
    if url != feed.url or kind != feed.kind:
        # The last reading came from the old source: never show it as the new one's; poll at the next minute.
        feed.values = feed.observed_at = feed.fetched_at = feed.last_error = None
    feed.name, feed.kind, feed.url, feed.period_s = name, kind, url, period_s
    session.add(feed)
    session.flush()
    audit.record(session, actor=actor, action="feed.update", entity="feed", entity_id=feed.id, before=before,
                 after=_fields(feed), now=now)
    return feed


def delete_feed(session: Session, *, actor: User, feed_id: int, now: datetime) -> None:
    require_role(actor, Role.ADMIN)
    feed = get_feed(session, feed_id=feed_id)
    used = _in_use(session, feed)
    if used:
        raise Conflict("data feed %(name)s is shown on the strip of %(screens)s: take it off those strips before "
                       "deleting it", details={"field": "name"}, params=used)
    before = _fields(feed)
    session.delete(feed)
    session.flush()
    audit.record(session, actor=actor, action="feed.delete", entity="feed", entity_id=feed_id, before=before,
                 after=None, now=now)


def read_now(session: Session, *, actor: User, feed_id: int, fetch: Fetch = fetch_http,
             now: datetime) -> tuple[DataFeed, bool]:
    """Poll one feed at once (an admin checking a new source); returns it and whether its reading changed."""
    require_role(actor, Role.ADMIN)
    feed = get_feed(session, feed_id=feed_id)
    return feed, poll(session, feed=feed, fetch=fetch, now=now)


def due_feeds(session: Session, *, now: datetime) -> list[DataFeed]:
    feeds = session.exec(select(DataFeed).order_by(col(DataFeed.id))).all()
    return [f for f in feeds if f.fetched_at is None or now - f.fetched_at >= timedelta(seconds=f.period_s)]


def poll(session: Session, *, feed: DataFeed, fetch: Fetch = fetch_http, now: datetime) -> bool:
    """Fetch and store one reading; a failure keeps the last good one (its age will hide it) and says why."""
    feed.fetched_at = now
    try:
        reading = parse_reading(feed.kind, fetch(feed.url), fetched_at=now)
    except Exception as exc:
        feed.last_error = str(exc)[:500]
        log.warning("feed %s: %s", feed.name, feed.last_error)
        session.add(feed)
        session.flush()
        return False
    changed = feed.values != reading.values or feed.observed_at != reading.observed_at
    feed.values, feed.observed_at, feed.last_error = dict(reading.values), reading.observed_at, None
    session.add(feed)
    session.flush()
    return changed


def _feeds_of(screen: Screen) -> set[str]:
    widgets: Iterable[dict[str, Any]] = (screen.zones or {}).get("widgets") or ()
    return {w["feed"] for w in widgets if w.get("feed")}


def feed_messages(session: Session, *, key: SigningKey, now: datetime) -> list[tuple[str, bytes]]:
    """Per enrolled screen whose strip shows a feed: its readings, signed; published retained on its feed topic."""
    feeds = {f.name: f for f in session.exec(select(DataFeed)).all() if f.values and f.observed_at}
    out: list[tuple[str, bytes]] = []
    screens = session.exec(select(Screen).where(col(Screen.zones).is_not(None),
                                                Screen.enrolment == Enrolment.ENROLLED)).all()
    for screen in screens:
        names = sorted(_feeds_of(screen) & set(feeds))
        if screen.id is None or not names:
            continue
        readings = {n: Reading(kind=feeds[n].kind, observed_at=feeds[n].observed_at,
                               values=feeds[n].values or {}) for n in names}
        wire = screen_wire_id(screen.id)
        body = FeedBody(screen_id=wire, version=int(now.timestamp() * 1000), issued_at=now,
                        expires_at=now + FEED_MESSAGE_VALIDITY, readings=readings)
        out.append((wire, sign_feed(body, key).to_json()))
    return out
