"""Store what screens report and answer "is it up, what is it showing, what did it play"."""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, UnidentifiedImageError
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from signage_core.fsutil import atomic_write_bytes
from signage_core.protocol import Heartbeat, PlayLogBatch, PlayRecord, ScreenshotHeader, Status
from signage_server.db import saved_id
from signage_server.errors import Invalid, NotFound
from signage_server.pagination import paginate
from signage_server.screens.models import Screen
from signage_server.telemetry.models import (
    SPLIT_SEGMENTS,
    SPLIT_UNKNOWN,
    PlayLogEntry,
    PlayLogSegment,
    PresenceEvent,
    ScreenHeartbeat,
    ScreenPresence,
    ScreenScreenshot,
)

THUMB_WIDTH = 320
MAX_PLAYLOG_SPAN = timedelta(days=92)


class UnknownScreen(LookupError):
    """A report from a screen id the database does not hold (deleted, or never issued)."""


def _screen(session: Session, screen_id: int) -> Screen:
    screen = session.get(Screen, screen_id)
    if screen is None:
        raise UnknownScreen(f"no screen {screen_id}")
    return screen


def _set_presence(session: Session, *, screen_id: int, state: str, at: datetime, seen: bool, source: str,
                  agent_version: str | None = None) -> ScreenPresence:
    row = _presence(session, session.get(ScreenPresence, screen_id), screen_id=screen_id, state=state, at=at,
                    seen=seen, source=source, agent_version=agent_version)
    session.flush()
    return row


def _presence(session: Session, row: ScreenPresence | None, *, screen_id: int, state: str, at: datetime, seen: bool,
              source: str, agent_version: str | None = None) -> ScreenPresence:
    if row is None:
        row = ScreenPresence(screen_id=screen_id, state=state, since=at, last_seen=at, agent_version=agent_version)
        session.add(PresenceEvent(screen_id=screen_id, state=state, at=at, source=source))
    elif row.state != state:
        row.state, row.since = state, at
        # Availability reports need every change, not just the current state.
        session.add(PresenceEvent(screen_id=screen_id, state=state, at=at, source=source))
    if seen:
        row.last_seen = max(row.last_seen, at)
    if agent_version:
        row.agent_version = agent_version
    session.add(row)
    return row


def record_status(session: Session, *, screen_id: int, status: Status, received_at: datetime) -> ScreenPresence:
    """A retained online status or a last will; only receipt time counts as seen (the will is not a sighting)."""
    _screen(session, screen_id)
    return _set_presence(session, screen_id=screen_id, state=status.state, at=received_at,
                         seen=status.state == "online", source="status", agent_version=status.agent_version)


def record_heartbeat(session: Session, *, screen_id: int, beat: Heartbeat, received_at: datetime) -> ScreenHeartbeat:
    """Keep only the latest beat per screen: history lives in the play log, health is "now"."""
    if record_heartbeats(session, beats=[(screen_id, beat, received_at)]):
        raise UnknownScreen(f"no screen {screen_id}")
    return session.get_one(ScreenHeartbeat, screen_id, populate_existing=True)


def record_heartbeats(session: Session, *, beats: Sequence[tuple[int, Heartbeat, datetime]]) -> set[int]:
    """Many beats in a few statements: the last beat per screen is written (the table keeps only the latest),
    and screens already online get their last-seen time in the same few statements.

    Returns the screen ids the database does not hold (their beats are skipped).
    """
    latest: dict[int, tuple[Heartbeat, datetime]] = {}
    for screen_id, beat, received_at in beats:
        latest[screen_id] = (beat, received_at)  # arrival order: the last one is the newest
    session.flush()  # rows this session changed before must reach the database before the bulk statements
    if session.get_bind().dialect.name == "postgresql":
        known, online = _store_beats_set_based(session, latest)
    else:
        known, online = _store_beats_executemany(session, latest)
    for sid in sorted(known - online):  # a state change (or a first sighting): the ORM path records its event
        _set_presence(session, screen_id=sid, state="online", at=latest[sid][1], seen=True, source="heartbeat")
    # The bulk statements bypass loaded objects: make any this session holds re-read.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, ScreenHeartbeat | ScreenPresence) and obj.screen_id in known:
            session.expire(obj)
    return set(latest) - known


def _store_beats_executemany(session: Session, latest: dict[int, tuple[Heartbeat, datetime]]
                             ) -> tuple[set[int], set[int]]:
    """SQLite: reads and executemany of Core statements (in-process, a statement costs no round trip; the ORM's
    bulk UPDATE spent more time on its parameters than SQLite on the rows). Returns (known screens, those
    already online).
    """
    known = {sid for sid in session.exec(select(Screen.id).where(col(Screen.id).in_(latest))).all() if sid is not None}
    if not known:
        return known, set()
    session.execute(_upsert_beats_sqlite(), [_heartbeat_values(sid, *latest[sid]) for sid in sorted(known)])
    seen = {sid: (state, last) for sid, state, last in session.exec(select(
        ScreenPresence.screen_id, ScreenPresence.state, ScreenPresence.last_seen).where(
        col(ScreenPresence.screen_id).in_(known))).all()}
    online = sorted(sid for sid in known if sid in seen and seen[sid][0] == "online")
    if online:
        session.execute(_set_last_seen(), [{"each_screen_id": sid, "each_last_seen": max(seen[sid][1], latest[sid][1])}
                                           for sid in online])
    return known, set(online)


@cache
def _upsert_beats_sqlite() -> sa.Insert:
    """Insert or replace a screen's one row (one statement for rows old and new, no read of which exist)."""
    table: sa.Table = ScreenHeartbeat.__table__  # type: ignore[attr-defined]
    stmt = sqlite.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.screen_id],
        set_={name: stmt.excluded[name] for name in _HEARTBEAT_COLUMNS if name != "screen_id"})


@cache
def _set_last_seen() -> sa.Update:
    table: sa.Table = ScreenPresence.__table__  # type: ignore[attr-defined]
    return (sa.update(table).where(table.c.screen_id == sa.bindparam("each_screen_id"))
            .values(last_seen=sa.bindparam("each_last_seen")))


def _store_beats_set_based(session: Session, latest: dict[int, tuple[Heartbeat, datetime]]
                           ) -> tuple[set[int], set[int]]:
    """PostgreSQL: two statements whatever the batch size, the beats sent as one array per column.

    An executemany is a round trip's worth of work per row even pipelined, and the reads it needs each
    carry a thousand-parameter IN list that psycopg parses on every call. Returns (known screens, those
    already online).
    """
    rows = [_heartbeat_values(sid, *latest[sid]) for sid in sorted(latest)]
    columns = {f"each_{name}": [row[name] for row in rows] for name in _HEARTBEAT_COLUMNS}
    known = set(session.execute(_upsert_beats(), columns).scalars())
    ids = sorted(known)
    online = session.execute(_touch_online(), {"each_screen_id": ids, "each_last_seen": [latest[sid][1] for sid in ids]})
    return known, set(online.scalars())


_HEARTBEAT_COLUMNS = [c.name for c in ScreenHeartbeat.__table__.columns]  # type: ignore[attr-defined]


def _unnest(table: sa.Table, names: Sequence[str]) -> sa.TableValuedAlias:
    """`unnest(:each_a::T[], :each_b::U[]) AS v(a, b)`: one bound array per column, typed like the table's.

    (A bound name may not be a column's name in an INSERT or UPDATE, hence the prefix.)
    """
    arrays = [sa.bindparam(f"each_{name}", type_=postgresql.ARRAY(table.c[name].type)) for name in names]
    return sa.func.unnest(*arrays).table_valued(*names).render_derived()


@cache
def _upsert_beats() -> sa.Insert:
    """Insert or replace each screen's one row, for screens that exist; RETURNING says which those were."""
    table: sa.Table = ScreenHeartbeat.__table__  # type: ignore[attr-defined]
    screens: sa.Table = Screen.__table__  # type: ignore[attr-defined]
    given = _unnest(table, _HEARTBEAT_COLUMNS)
    rows = sa.select(*[given.c[name] for name in _HEARTBEAT_COLUMNS]).where(
        given.c.screen_id.in_(sa.select(screens.c.id)))
    stmt = postgresql.insert(table).from_select(_HEARTBEAT_COLUMNS, rows)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.screen_id],
        set_={name: stmt.excluded[name] for name in _HEARTBEAT_COLUMNS if name != "screen_id"},
    ).returning(table.c.screen_id)


@cache
def _touch_online() -> sa.Update:
    """Move last_seen forward (never back) for screens already online; RETURNING says which those were."""
    table: sa.Table = ScreenPresence.__table__  # type: ignore[attr-defined]
    given = _unnest(table, ["screen_id", "last_seen"])
    return (sa.update(table)
            .values(last_seen=sa.func.greatest(table.c.last_seen, given.c.last_seen))
            .where(table.c.screen_id == given.c.screen_id, table.c.state == "online")
            .returning(table.c.screen_id))


def _heartbeat_values(screen_id: int, beat: Heartbeat, received_at: datetime) -> dict[str, object]:
    # Lasting problems (damaged state file, disk full, held manifest) lead: they need a technician.
    shown = [*beat.problems, *([beat.last_error] if beat.last_error and beat.last_error not in beat.problems else [])]
    return {
        "screen_id": screen_id,
        "received_at": received_at,
        "sent_at": beat.sent_at,
        "uptime_s": beat.uptime_s,
        "manifest_version": beat.manifest_version,
        "current_slide_id": beat.current_slide_id,
        "current_language": beat.current_language,
        "frame_hash": beat.frame_hash,
        "cache_bytes": beat.cache_bytes,
        "disk_free_bytes": beat.disk_free_bytes,
        "temperature_c": beat.temperature_c,
        # Player clock minus server receipt time, seconds: a drifting clock breaks schedules.
        "clock_offset_s": round((beat.sent_at - received_at).total_seconds(), 3),
        "stale": beat.stale,
        "brightness_percent": beat.brightness_percent,
        "brightness_source": beat.brightness_source.value if beat.brightness_source else None,
        "last_error": "; ".join(shown)[:500] or None,
    }


def record_playlog(session: Session, *, screen_id: int, batch: PlayLogBatch, received_at: datetime) -> list[str]:
    """Insert records not seen before; return every id now stored, so re-sent ones are acknowledged again."""
    _screen(session, screen_id)
    wanted = {r.record_id: r for r in batch.records}
    known = set(session.exec(select(PlayLogEntry.record_id).where(
        PlayLogEntry.screen_id == screen_id, col(PlayLogEntry.record_id).in_(list(wanted)))).all())
    added: list[tuple[PlayLogEntry, PlayRecord]] = []
    for record_id, record in wanted.items():
        if record_id in known:
            continue
        row = PlayLogEntry(
            screen_id=screen_id, record_id=record_id, slide_id=record.slide_id,
            playlist_id=record.playlist_id, language=record.language.value if record.language else None,
            language_split=SPLIT_UNKNOWN if record.segments is None else SPLIT_SEGMENTS,
            manifest_version=record.manifest_version, started_at=record.started_at,
            duration_ms=record.duration_ms, frame_hash=record.frame_hash, received_at=received_at,
            interrupted=record.interrupted, clock_jump_ms=record.clock_jump_ms, zone=record.zone)
        session.add(row)
        added.append((row, record))
    session.flush()  # the rows' ids, for their segments; same transaction, so a play is stored whole or not at all
    for row, record in added:
        for seg in record.segments or ():
            session.add(PlayLogSegment(play_id=saved_id(row), language=seg.language.value, offset_ms=seg.offset_ms,
                                       duration_ms=seg.duration_ms))
    session.flush()
    return list(wanted)


def _image_file(root: Path, data: bytes, suffix: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = root / f"{digest}{suffix}"
    if not path.exists():
        atomic_write_bytes(path, data, mode=0o640)
    return digest


_SCREENSHOT_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}


def _declared_size(image: bytes, content_type: str, screen_id: int) -> tuple[int, int]:
    """The size the picture's header declares, read by the format's own parser without Image.open.

    Image.open runs Pillow's bomb check, which only warns below twice MAX_IMAGE_PIXELS; a warning is no
    refusal, and flipping the process-wide warning filter is not thread-safe. The header parse decodes nothing.
    """
    Image.init()
    factory, accept = Image.OPEN[_SCREENSHOT_FORMATS[content_type]]
    if accept is not None and not accept(image[:16]):
        raise Invalid(f"screenshot from screen {screen_id} is not the {content_type} its header says", field="image")
    try:
        with factory(io.BytesIO(image), "") as parsed:
            width, height = parsed.size
    except (SyntaxError, OSError, ValueError, struct.error) as exc:
        raise Invalid(f"screenshot from screen {screen_id} is not a readable image: {exc}", field="image") from None
    if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
        raise Invalid(f"screenshot from screen {screen_id} is a decompression bomb ({width}x{height})", field="image")
    return int(width), int(height)


def record_screenshot(session: Session, *, screen_id: int, header: ScreenshotHeader, image: bytes,
                      received_at: datetime, root: Path) -> ScreenScreenshot:
    """Keep the latest screenshot and a small thumbnail for the dashboard; refuse bytes that are no image."""
    screen = _screen(session, screen_id)
    # Decided on the header, before a pixel is decoded: a 17 kB PNG may declare 12000x12000.
    width, height = _declared_size(image, header.content_type, screen_id)
    if width > screen.width_px or height > screen.height_px:
        raise Invalid(f"screenshot from screen {screen_id} is {width}x{height}, larger than the screen's "
                      f"{screen.width_px}x{screen.height_px}", field="image")
    try:
        with Image.open(io.BytesIO(image), formats=[_SCREENSHOT_FORMATS[header.content_type]]) as img:
            if img.size != (width, height):
                raise Invalid(f"screenshot from screen {screen_id} changed size while opened", field="image")
            img.load()
            thumb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise Invalid(f"screenshot from screen {screen_id} is not a readable image: {exc}", field="image") from None
    thumb.thumbnail((THUMB_WIDTH, THUMB_WIDTH))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=80)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".png" if header.content_type == "image/png" else ".jpg"
    row = session.get(ScreenScreenshot, screen_id) or ScreenScreenshot(
        screen_id=screen_id, taken_at=header.taken_at, received_at=received_at, command_id=header.command_id,
        content_type=header.content_type, sha256="", size=0)
    row.taken_at, row.received_at, row.command_id = header.taken_at, received_at, header.command_id
    row.content_type, row.size = header.content_type, len(image)
    row.sha256 = _image_file(root, image, suffix)
    row.thumb_sha256 = _image_file(root, buf.getvalue(), ".jpg")
    session.add(row)
    session.flush()
    return row


def screenshot_file(session: Session, *, screen_id: int, root: Path, thumbnail: bool) -> tuple[Path, str]:
    """The stored file and its media type, or NotFound when the screen never sent one."""
    row = session.get(ScreenScreenshot, screen_id)
    if row is None:
        raise NotFound("screenshot of screen", screen_id)
    if thumbnail and row.thumb_sha256:
        return root / f"{row.thumb_sha256}.jpg", "image/jpeg"
    suffix = ".png" if row.content_type == "image/png" else ".jpg"
    return root / f"{row.sha256}{suffix}", row.content_type


def mark_missed(session: Session, *, now: datetime, interval: timedelta, missed: int) -> list[int]:
    """Screens still called online whose last sign of life is older than `missed` beats: now offline."""
    cutoff = now - interval * missed
    quiet = session.exec(select(ScreenPresence).where(
        ScreenPresence.state == "online", col(ScreenPresence.last_seen) < cutoff)).all()
    for row in quiet:
        row.state, row.since = "offline", now
        session.add(row)
        # Offline from the last sign of life, not from when this job noticed: availability counts from there.
        session.add(PresenceEvent(screen_id=row.screen_id, state="offline", at=row.last_seen,
                                  source="missed_heartbeats"))
    session.flush()
    return sorted(row.screen_id for row in quiet)


@dataclass(frozen=True, slots=True)
class ScreenStatus:
    """One screen's health as the dashboard shows it."""

    screen: Screen
    presence: ScreenPresence | None
    heartbeat: ScreenHeartbeat | None
    screenshot: ScreenScreenshot | None
    state: str  # online | offline | unknown, judged at `now` even before the offline job ran


def _judge(presence: ScreenPresence | None, *, now: datetime, interval: timedelta, missed: int) -> str:
    if presence is None:
        return "unknown"
    if presence.state == "online" and now - presence.last_seen > interval * missed:
        return "offline"
    return presence.state


def screen_status(session: Session, *, screen_id: int, now: datetime, interval: timedelta, missed: int) -> ScreenStatus:
    screen = session.get(Screen, screen_id)
    if screen is None:
        raise NotFound("screen", screen_id)
    presence = session.get(ScreenPresence, screen_id)
    return ScreenStatus(screen, presence, session.get(ScreenHeartbeat, screen_id),
                        session.get(ScreenScreenshot, screen_id),
                        _judge(presence, now=now, interval=interval, missed=missed))


def all_statuses(session: Session, *, now: datetime, interval: timedelta, missed: int) -> list[ScreenStatus]:
    """Every screen in four queries, not four per screen: the dashboard polls this."""
    screens = session.exec(select(Screen).order_by(col(Screen.name))).all()
    presence = {r.screen_id: r for r in session.exec(select(ScreenPresence)).all()}
    beats = {r.screen_id: r for r in session.exec(select(ScreenHeartbeat)).all()}
    shots = {r.screen_id: r for r in session.exec(select(ScreenScreenshot)).all()}
    return [
        ScreenStatus(s, presence.get(saved_id(s)), beats.get(saved_id(s)), shots.get(saved_id(s)),
                     _judge(presence.get(saved_id(s)), now=now, interval=interval, missed=missed))
        for s in screens
    ]


def play_log(session: Session, *, screen_id: int | None, start: datetime, end: datetime,
             limit: int, offset: int) -> tuple[list[PlayLogEntry], int]:
    """Proof of play in [start, end), oldest first; spans are bounded so one query cannot scan years."""
    if end <= start:
        raise Invalid("'to' must be after 'from'", field="to")
    if end - start > MAX_PLAYLOG_SPAN:
        raise Invalid("at most %(days)s days per query", field="to", params={"days": MAX_PLAYLOG_SPAN.days})
    query = select(PlayLogEntry).where(col(PlayLogEntry.started_at) >= start, col(PlayLogEntry.started_at) < end)
    if screen_id is not None:
        if session.get(Screen, screen_id) is None:
            raise NotFound("screen", screen_id)
        query = query.where(PlayLogEntry.screen_id == screen_id)
    return paginate(session, query.order_by(col(PlayLogEntry.started_at), col(PlayLogEntry.id)),
                    limit=limit, offset=offset)


def segments_of(session: Session, *, play_ids: list[int]) -> dict[int, list[PlayLogSegment]]:
    """Each play's language segments, for one page of the play log."""
    out: dict[int, list[PlayLogSegment]] = {i: [] for i in play_ids}
    if play_ids:
        for seg in session.exec(select(PlayLogSegment).where(col(PlayLogSegment.play_id).in_(play_ids))
                                .order_by(col(PlayLogSegment.play_id), col(PlayLogSegment.offset_ms),
                                          col(PlayLogSegment.id))).all():
            out[seg.play_id].append(seg)
    return out
