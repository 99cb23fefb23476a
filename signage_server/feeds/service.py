"""Data feeds: poll an HTTP JSON source, keep its last good reading, and sign each strip's readings per screen."""

from __future__ import annotations

import json
import logging
import math
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlmodel import Session, col, select

from signage_core.feeds import RATE_CURRENCIES, FeedBody, FeedKind, Reading, sign_feed
from signage_core.signing import SigningKey
from signage_server.audit import service as audit
from signage_server.errors import Conflict, Invalid
from signage_server.feeds.models import DataFeed
from signage_server.permissions import require_role
from signage_server.screens.models import Enrolment, Screen
from signage_server.transport.ids import screen_wire_id
from signage_server.users.models import Role, User

log = logging.getLogger(__name__)
FEED_KINDS: tuple[str, ...] = get_args(FeedKind)
MIN_PERIOD_S, MAX_PERIOD_S = 60, 86_400
MAX_BODY_BYTES = 64 * 1024  # a temperature or a rate table is a few hundred bytes
FETCH_TIMEOUT_S = 10.0
# A feed message is valid this long; each widget's own limit decides what is shown.
FEED_MESSAGE_VALIDITY = timedelta(days=7)
Fetch = Callable[[str], bytes]


def fetch_http(url: str) -> bytes:
    """GET the source, refusing anything but http(s) and bodies past the size limit."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"feed URL {url!r} is not http or https")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 - scheme checked
        data: bytes = response.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise ValueError(f"feed answer is over {MAX_BODY_BYTES} bytes")
    return data


def parse_reading(kind: str, raw: bytes, *, fetched_at: datetime) -> Reading:
    """The source's JSON as a reading, naming what is missing or wrong.

    temperature: {"temperature_c": 31.4, "observed_at": "...Z"?}; rates: {"rates": {"USD": 25430, "KHR": 6.3},
    "observed_at": ...?} in VND per unit. Without observed_at the fetch time is the reading's time.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"feed answer is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("feed answer is not a JSON object")
    values: dict[str, Any]
    if kind == "temperature":
        if "temperature_c" not in data:
            raise ValueError("feed answer has no temperature_c")
        values = {"c": data["temperature_c"]}
    elif kind == "rates":
        rates = data.get("rates")
        if not isinstance(rates, dict):
            raise ValueError("feed answer has no rates object")
        values = {cur: rates[cur] for cur in RATE_CURRENCIES if cur in rates}
        if not values:
            raise ValueError(f"feed answer has none of the rates {', '.join(RATE_CURRENCIES)}")
    else:
        raise ValueError(f"unknown feed kind {kind!r}")
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < -100:
            raise ValueError(f"feed value {name} is not a number: {value!r}")
    try:
        return Reading(kind=kind, observed_at=data.get("observed_at") or fetched_at, values=values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ValueError(f"feed answer is not valid: {exc.errors()[0]['msg']}") from None


def create_feed(session: Session, *, actor: User, name: str, kind: str, url: str, period_s: int,
                now: datetime) -> DataFeed:
    require_role(actor, Role.ADMIN)
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise Invalid("feed name must be 1-64 letters, digits, - or _", field="name")
    if kind not in FEED_KINDS:
        raise Invalid("feed kind must be temperature or rates", field="kind")
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[" and the like
        usable = False
    if not usable:
        raise Invalid("feed URL must be an http or https address", field="url")
    if not MIN_PERIOD_S <= period_s <= MAX_PERIOD_S:
        raise Invalid("poll period must be between %(min)s and %(max)s seconds", field="period_s",
                      params={"min": MIN_PERIOD_S, "max": MAX_PERIOD_S})
    if session.exec(select(DataFeed).where(DataFeed.name == name)).first() is not None:
        raise Conflict("data feed %(name)s exists", details={"field": "name"}, params={"name": repr(name)})
    feed = DataFeed(name=name, kind=kind, url=url, period_s=period_s, created_at=now)
    session.add(feed)
    session.flush()
    audit.record(session, actor=actor, action="feed.create", entity="feed", entity_id=feed.id, before=None,
                 after={"name": name, "kind": kind, "url": url, "period_s": period_s}, now=now)
    return feed


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
        readings = {n: Reading(kind=feeds[n].kind, observed_at=feeds[n].observed_at,  # type: ignore[arg-type]
                               values=feeds[n].values or {}) for n in names}
        wire = screen_wire_id(screen.id)
        body = FeedBody(screen_id=wire, version=int(now.timestamp() * 1000), issued_at=now,
                        expires_at=now + FEED_MESSAGE_VALIDITY, readings=readings)
        out.append((wire, sign_feed(body, key).to_json()))
    return out
