"""Figures from proof of play and presence history over an explicit period: airtime, availability, outages."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, not_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.playlists.models import Playlist
from signage_server.reports.calendar import Period, zone
from signage_server.reports.intervals import (
    Interval,
    in_service,
    intersect,
    merge,
    on_hours,
    subtract,
    total,
)
from signage_server.screens.models import Enrolment, Screen, Site
from signage_server.slides.models import Slide
from signage_server.telemetry.models import (
    SPLIT_UNKNOWN,
    PlayLogEntry,
    PlayLogSegment,
    PresenceEvent,
    ScreenHeartbeat,
)

# A record may end this long after its receipt before we call the player's clock ahead (transit, rounding).
SKEW_TOLERANCE = timedelta(seconds=5)
# Plays this close together are one run: the player takes a moment between slides.
PLAY_GAP_TOLERANCE = timedelta(seconds=5)
# Shorter gaps still lower availability but are not listed as outages (a reboot blip is not an incident).
MIN_OUTAGE = timedelta(seconds=60)
# The longest single play we look back for when a play starts before the period and runs into it.
MAX_PLAY = timedelta(hours=6)
LANGUAGES = ("vi", "en", "km")
# Plays recorded before language segments: their split is not known and is shown as such, never guessed.
UNKNOWN_LANGUAGE = "unknown"
# The zone of a zoned screen's ticker messages (play_log.zone); None is the main zone, every record before zones.
TICKER = "ticker"


@dataclass(frozen=True, slots=True)
class Play:
    """One de-duplicated play record, its times corrected for a player clock that ran ahead."""

    screen_id: int
    record_id: str
    slide_id: str
    playlist_id: str | None
    start: datetime
    end: datetime
    skewed: bool
    play_id: int = 0
    split_known: bool = True  # False: recorded before segments, languages unknown


def correct_skew(*, started_at: datetime, duration: timedelta, received_at: datetime,
                 clock_offset_s: float | None) -> tuple[datetime, bool]:
    """A play cannot end after the server received it: such a clock ran ahead, so move the play back.

    First by the screen's measured clock offset (heartbeat sent_at minus receipt), and if that is unknown or
    not enough, so that it ends at its receipt. Plays consistent with their receipt are taken as stamped:
    the latest offset says nothing about what the clock said months ago.
    """
    if started_at + duration <= received_at + SKEW_TOLERANCE:
        return started_at, False
    start = started_at
    if clock_offset_s is not None and clock_offset_s > 0:
        start = started_at - timedelta(seconds=clock_offset_s)
    if start + duration > received_at + SKEW_TOLERANCE:
        start = received_at - duration
    return start, True


def _offsets(session: Session) -> dict[int, float | None]:
    return {b.screen_id: b.clock_offset_s for b in session.exec(select(ScreenHeartbeat)).all()}


def _epoch(column: Any, dialect: str) -> Any:
    """Seconds since 1970 of a stored UTC datetime, in SQL: lets the database add durations to times."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


def _in_zone(zone: str | None) -> Any:
    """One zone's records: a ticker pass overlaps the main zone's play on the same screen, so they never add up."""
    return col(PlayLogEntry.zone).is_(None) if zone is None else col(PlayLogEntry.zone) == zone


def _plain(session: Session, *, start: datetime, end: datetime, zone: str | None = None) -> Any:
    """Rows the database can sum as they are: on time (not ahead of receipt) and wholly inside [start, end)."""
    dialect = session.get_bind().dialect.name
    begin = _epoch(PlayLogEntry.started_at, dialect)
    finish = begin + col(PlayLogEntry.duration_ms) / 1000.0
    return and_(_in_zone(zone), col(PlayLogEntry.started_at) >= start, col(PlayLogEntry.started_at) < end,
                finish <= end.timestamp(),
                finish <= _epoch(PlayLogEntry.received_at, dialect) + SKEW_TOLERANCE.total_seconds())


def iter_plays(session: Session, *, start: datetime, end: datetime, screen_ids: Iterable[int] | None = None,
               slide_id: str | None = None, skip_plain: bool = False, zone: str | None = None) -> Iterator[Play]:
    """One zone's plays overlapping [start, end), by screen then time; the (screen, record) key de-duplicates.

    With skip_plain, only the rows `_plain` leaves out (skewed, or crossing the period's edges).
    """
    offsets = _offsets(session)
    t = PlayLogEntry
    # Skew moves plays back, never forward: look a little past `end` for plays stamped ahead.
    query = sa_select(*(col(c) for c in (t.screen_id, t.record_id, t.slide_id, t.playlist_id, t.language_split,
                                         t.started_at, t.duration_ms, t.received_at, t.id))).where(
        _in_zone(zone), col(t.started_at) >= start - MAX_PLAY, col(t.started_at) < end + timedelta(days=1))
    if screen_ids is not None:
        query = query.where(col(t.screen_id).in_(list(screen_ids)))
    if slide_id is not None:
        query = query.where(col(t.slide_id) == slide_id)
    if skip_plain:
        query = query.where(not_(_plain(session, start=start, end=end, zone=zone)))
    query = query.order_by(col(t.screen_id), col(t.started_at), col(t.id))
    for screen_id, record_id, slide, playlist, split, started_at, duration_ms, received_at, play_id in session.execute(
            query.execution_options(yield_per=5000)):
        duration = timedelta(milliseconds=duration_ms)
        begin, skewed = correct_skew(started_at=started_at, duration=duration, received_at=received_at,
                                     clock_offset_s=offsets.get(screen_id))
        if begin >= end or (begin < start and begin + duration <= start):
            continue
        yield Play(screen_id, record_id, slide, playlist, begin, begin + duration, skewed, play_id,
                   split != SPLIT_UNKNOWN)


def language_spans(session: Session, plays: Iterable[Play]) -> Iterator[tuple[Play, str, datetime, datetime]]:
    """Each language on screen during each play, as (play, language, from, to); unknown splits as one span."""
    plays = list(plays)
    segments: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    known = [p.play_id for p in plays if p.split_known]
    for i in range(0, len(known), 500):
        for play_id, language, offset_ms, duration_ms in session.execute(sa_select(
                col(PlayLogSegment.play_id), col(PlayLogSegment.language), col(PlayLogSegment.offset_ms),
                col(PlayLogSegment.duration_ms)).where(col(PlayLogSegment.play_id).in_(known[i:i + 500]))):
            segments[play_id].append((language, offset_ms, duration_ms))
    for play in plays:
        if not play.split_known:
            yield play, UNKNOWN_LANGUAGE, play.start, play.end
            continue
        for language, offset_ms, duration_ms in segments.get(play.play_id, ()):
            begin = play.start + timedelta(milliseconds=offset_ms)
            yield play, language, begin, begin + timedelta(milliseconds=duration_ms)


# ---- airtime ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Airtime:
    """Minutes on screen and plays started within the period, for one screen/playlist/slide/language/site."""

    key: str
    label: str
    plays: int = 0
    seconds: float = 0.0
    language: str = ""  # set in the by-language tables

    @property
    def minutes(self) -> float:
        return round(self.seconds / 60, 2)


@dataclass(slots=True)
class AirtimeReport:
    period: Period
    by_screen: list[Airtime]
    by_site: list[Airtime]
    by_playlist: list[Airtime]
    by_slide: list[Airtime]
    by_language: list[Airtime]
    plays: int
    seconds: float
    skew_corrected: int
    # Language x screen and language x site: each language's minutes on each screen / at each site.
    by_screen_language: list[Airtime] = field(default_factory=list)
    by_site_language: list[Airtime] = field(default_factory=list)

    @property
    def minutes(self) -> float:
        return round(self.seconds / 60, 2)


_ID = re.compile(r"(?:[a-z]+-)?(\d+)")


def _numeric(value: str | None) -> int | None:
    """Manifests name slides and playlists by their database id, possibly prefixed ("slide-12")."""
    found = _ID.fullmatch(value or "")
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class Names:
    screens: dict[int, Screen]
    sites: dict[int, Site]
    slides: dict[int, str]
    playlists: dict[int, str]

    def screen(self, screen_id: int) -> str:
        """The display name officials know the screen by; the technical name when none is set."""
        found = self.screens.get(screen_id)
        return found.label if found else f"#{screen_id}"

    def site_of(self, screen_id: int) -> tuple[str, str]:
        found = self.screens.get(screen_id)
        site = self.sites.get(found.site_id) if found else None
        return (str(site.id), site.name) if site else ("", "?")

    def slide(self, slide_id: str) -> str:
        num = _numeric(slide_id)
        return self.slides.get(num, slide_id) if num is not None else slide_id

    def playlist(self, playlist_id: str | None) -> str:
        if playlist_id is None:
            return "—"
        num = _numeric(playlist_id)
        return self.playlists.get(num, playlist_id) if num is not None else playlist_id


def load_names(session: Session) -> Names:
    """Names as people read them: screens' display names, slides by their approved Vietnamese caption."""
    titles = {c.slide_id: c.text for c in session.exec(select(CaptionRevision).where(
        CaptionRevision.language == "vi", CaptionRevision.state == CaptionState.APPROVED)).all()}
    return Names(
        screens={s.id: s for s in session.exec(select(Screen)).all() if s.id is not None},
        sites={s.id: s for s in session.exec(select(Site)).all() if s.id is not None},
        slides={s.id: titles.get(s.id) or s.name for s in session.exec(select(Slide)).all() if s.id is not None},
        playlists={p.id: p.label for p in session.exec(select(Playlist)).all() if p.id is not None})


def _bump(table: dict[str, Airtime], key: str, label: str, *, started: bool, seconds: float,
          language: str = "") -> None:
    _bump_n(table, key, label, int(started), seconds, language)


def _bump_n(table: dict[str, Airtime], key: str, label: str, plays: int, seconds: float, language: str = "") -> None:
    row = table.get(key)
    if row is None:
        row = table[key] = Airtime(key, label, language=language)
    row.plays += plays
    row.seconds += seconds


def _ranked(table: dict[str, Airtime]) -> list[Airtime]:
    return sorted(table.values(), key=lambda a: (-a.seconds, a.label))


def _language_rank(language: str) -> int:
    return LANGUAGES.index(language) if language in LANGUAGES else len(LANGUAGES)


@dataclass(slots=True)
class _LanguageTables:
    """Airtime by language, language x screen and language x site, summed from language segments."""

    names: Names
    languages: dict[str, Airtime] = field(default_factory=lambda: {lang: Airtime(lang, lang, language=lang)
                                                                   for lang in LANGUAGES})
    screens: dict[str, Airtime] = field(default_factory=dict)
    sites: dict[str, Airtime] = field(default_factory=dict)

    def add(self, screen_id: int, language: str, plays: int, seconds: float) -> None:
        site_key, site_name = self.names.site_of(screen_id)
        _bump_n(self.languages, language, language, plays, seconds, language)
        _bump_n(self.screens, f"{screen_id}:{language}", self.names.screen(screen_id), plays, seconds, language)
        _bump_n(self.sites, f"{site_key}:{language}", site_name, plays, seconds, language)

    def ordered(self, table: dict[str, Airtime]) -> list[Airtime]:
        return sorted(table.values(), key=lambda a: (a.label, _language_rank(a.language), a.language))


def airtime(session: Session, *, period: Period, tz: ZoneInfo, screen_ids: Iterable[int] | None = None,
            zone: str | None = None) -> AirtimeReport:
    """Airtime per screen, site, playlist, slide and language: plays counted where they start, minutes clipped.

    One zone at a time: the main zone's (the default) or the ticker's passes (zone=TICKER), which scroll
    while the slides play and are therefore reported apart, never added to the main zone's minutes.

    A play crossing the period's edge counts its minutes on each side where they fell, and as a play in the
    period it started in, so consecutive periods add up exactly. A language's minutes are the time it was on
    screen (its segments): a stacked item credits every language for the whole item, so language minutes on
    such screens add up to more than the screen's minutes (docs/reports.md).
    """
    lo, hi = period.bounds(tz)
    names = load_names(session)
    screen_list = list(screen_ids) if screen_ids is not None else None
    screens: dict[str, Airtime] = {}
    sites: dict[str, Airtime] = {}
    playlists: dict[str, Airtime] = {}
    slides: dict[str, Airtime] = {}
    langs = _LanguageTables(names)
    plays = skewed = 0
    seconds = 0.0
    # Most rows are on time and inside the period: the database sums those; Python takes the few others.
    t = PlayLogEntry
    seg = PlayLogSegment
    plain = _plain(session, start=lo, end=hi, zone=zone)
    summed = sa_select(col(t.screen_id), col(t.slide_id), col(t.playlist_id), func.count(),
                       func.sum(col(t.duration_ms))).where(plain).group_by(
        col(t.screen_id), col(t.slide_id), col(t.playlist_id))
    by_language = sa_select(col(t.screen_id), col(seg.language), func.count(func.distinct(col(seg.play_id))),
                            func.sum(col(seg.duration_ms))).join(seg, col(seg.play_id) == col(t.id)).where(
        plain).group_by(col(t.screen_id), col(seg.language))
    unknown = sa_select(col(t.screen_id), func.count(), func.sum(col(t.duration_ms))).where(
        plain, col(t.language_split) == SPLIT_UNKNOWN).group_by(col(t.screen_id))
    if screen_list is not None:
        summed = summed.where(col(t.screen_id).in_(screen_list))
        by_language = by_language.where(col(t.screen_id).in_(screen_list))
        unknown = unknown.where(col(t.screen_id).in_(screen_list))
    for screen_id, slide_id, playlist_id, count, total_ms in session.execute(summed):
        secs = total_ms / 1000
        plays += count
        seconds += secs
        site_key, site_name = names.site_of(screen_id)
        _bump_n(screens, str(screen_id), names.screen(screen_id), count, secs)
        _bump_n(sites, site_key, site_name, count, secs)
        _bump_n(playlists, playlist_id or "", names.playlist(playlist_id), count, secs)
        _bump_n(slides, slide_id, names.slide(slide_id), count, secs)
    for screen_id, language, count, total_ms in session.execute(by_language):
        langs.add(screen_id, language, count, (total_ms or 0) / 1000)
    for screen_id, count, total_ms in session.execute(unknown):
        langs.add(screen_id, UNKNOWN_LANGUAGE, count, (total_ms or 0) / 1000)
    edge: list[Play] = []
    for play in iter_plays(session, start=lo, end=hi, screen_ids=screen_list, skip_plain=True, zone=zone):
        inside = (min(play.end, hi) - max(play.start, lo)).total_seconds()
        started = lo <= play.start < hi
        if inside <= 0 and not started:
            continue
        edge.append(play)
        plays += int(started)
        skewed += int(started and play.skewed)
        seconds += inside
        site_key, site_name = names.site_of(play.screen_id)
        _bump(screens, str(play.screen_id), names.screen(play.screen_id), started=started, seconds=inside)
        _bump(sites, site_key, site_name, started=started, seconds=inside)
        _bump(playlists, play.playlist_id or "", names.playlist(play.playlist_id), started=started, seconds=inside)
        _bump(slides, play.slide_id, names.slide(play.slide_id), started=started, seconds=inside)
    counted: set[tuple[int, str]] = set()
    for play, language, begin, end in language_spans(session, edge):
        inside = max((min(end, hi) - max(begin, lo)).total_seconds(), 0.0)
        first = (play.play_id, language) not in counted  # a rotate play counts once per language it showed
        counted.add((play.play_id, language))
        langs.add(play.screen_id, language, int(first and lo <= play.start < hi), inside)
    ordered_langs = [langs.languages[k] for k in LANGUAGES] + sorted(
        (v for k, v in langs.languages.items() if k not in LANGUAGES), key=lambda a: a.key)
    return AirtimeReport(period, _ranked(screens), _ranked(sites), _ranked(playlists), _ranked(slides),
                         ordered_langs, plays, seconds, skewed, langs.ordered(langs.screens),
                         langs.ordered(langs.sites))


# ---- availability ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outage:
    screen_id: int
    kind: str  # offline | not_playing
    start: datetime
    end: datetime
    seconds: float  # within on-hours only: the nights of a week-long outage are not lost airtime

    @property
    def minutes(self) -> float:
        return round(self.seconds / 60, 2)


def _outages(screen_id: int, sp: _Spans) -> list[Outage]:
    """Gaps in on-hours; one outage across nights when nothing changed during the off-hours between."""
    raw = [("offline", a, b) for a, b in subtract(sp.scheduled, sp.online)]
    raw += [("not_playing", a, b) for a, b in subtract(sp.online, sp.played)]
    merged: list[Outage] = []
    for kind, lo, hi in sorted(raw, key=lambda r: r[1]):
        prev = merged[-1] if merged else None
        if prev is not None and prev.kind == kind and not intersect([(prev.end, lo)], sp.scheduled):
            merged[-1] = Outage(screen_id, kind, prev.start, hi, prev.seconds + (hi - lo).total_seconds())
        else:
            merged.append(Outage(screen_id, kind, lo, hi, (hi - lo).total_seconds()))
    return [o for o in merged if o.seconds >= MIN_OUTAGE.total_seconds()]


@dataclass(slots=True)
class Availability:
    """Share of the screen's scheduled on-hours in the period when it was online and playing."""

    screen_id: int
    screen: str
    site: str
    scheduled_s: float
    online_s: float
    available_s: float
    outages: list[Outage] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        return round(100 * self.available_s / self.scheduled_s, 2) if self.scheduled_s else None


def online_spans(session: Session, *, screen_id: int, start: datetime, end: datetime) -> list[Interval]:
    """Online intervals from the presence history; before the first recorded event a screen counts offline."""
    before = session.exec(select(PresenceEvent).where(
        PresenceEvent.screen_id == screen_id, col(PresenceEvent.at) < start).order_by(
        col(PresenceEvent.at).desc(), col(PresenceEvent.id).desc()).limit(1)).first()
    events = session.exec(select(PresenceEvent).where(
        PresenceEvent.screen_id == screen_id, col(PresenceEvent.at) >= start, col(PresenceEvent.at) < end).order_by(
        col(PresenceEvent.at), col(PresenceEvent.id))).all()
    spans: list[Interval] = []
    up_since = start if before is not None and before.state == "online" else None
    for event in events:
        if event.state == "online" and up_since is None:
            up_since = event.at
        elif event.state == "offline" and up_since is not None:
            spans.append((up_since, event.at))
            up_since = None
    if up_since is not None:
        spans.append((up_since, end))
    return merge(spans)


def _plain_runs(session: Session, *, start: datetime, end: datetime,
                screen_ids: list[int]) -> Iterator[tuple[int, Interval]]:
    """Unbroken runs of on-time plays, found by the database (gaps and islands): a year is millions of rows."""
    t = PlayLogEntry
    dialect = session.get_bind().dialect.name
    begin = _epoch(t.started_at, dialect)
    plays = sa_select(col(t.screen_id).label("screen_id"), begin.label("s"),
                      (begin + col(t.duration_ms) / 1000.0).label("e")).where(
        _plain(session, start=start, end=end), col(t.screen_id).in_(screen_ids)).subquery()
    reach = func.max(plays.c.e).over(partition_by=plays.c.screen_id, order_by=(plays.c.s, plays.c.e),
                                     rows=(None, -1))
    marked = sa_select(plays.c.screen_id, plays.c.s, plays.c.e, reach.label("reach")).subquery()
    fresh = case((marked.c.reach.is_(None), 1),
                 (marked.c.s > marked.c.reach + PLAY_GAP_TOLERANCE.total_seconds(), 1), else_=0)
    island = func.sum(fresh).over(partition_by=marked.c.screen_id, order_by=(marked.c.s, marked.c.e),
                                  rows=(None, 0))
    numbered = sa_select(marked.c.screen_id, marked.c.s, marked.c.e, island.label("island")).subquery()
    runs = sa_select(numbered.c.screen_id, func.min(numbered.c.s), func.max(numbered.c.e)).group_by(
        numbered.c.screen_id, numbered.c.island)
    for screen_id, lo, hi in session.execute(runs):
        yield int(screen_id), (datetime.fromtimestamp(round(float(lo), 3), UTC),
                               datetime.fromtimestamp(round(float(hi), 3), UTC))


@dataclass(frozen=True, slots=True)
class NotCounted:
    """A screen left out of availability, and why: pending, commissioned after the period, revoked before it."""

    screen_id: int
    screen: str
    site: str
    reason: str  # pending | later | revoked


def not_counted(session: Session, *, period: Period, tz: ZoneInfo, now: datetime) -> list[NotCounted]:
    """Screens with no time in service within the period: listed apart in the report, never averaged in."""
    lo, hi = _window(period, tz, now)
    names = load_names(session)
    out: list[NotCounted] = []
    for screen_id, screen in names.screens.items():
        if in_service(screen, start=lo, end=hi):
            continue
        if screen.enrolment == Enrolment.PENDING or screen.commissioned_at is None:
            reason = "pending"
        elif screen.revoked_at is not None and screen.revoked_at <= lo:
            reason = "revoked"
        else:
            reason = "later"
        out.append(NotCounted(screen_id, names.screen(screen_id), names.site_of(screen_id)[1], reason))
    return sorted(out, key=lambda r: (r.site, r.screen))


@dataclass(frozen=True, slots=True)
class _Spans:
    scheduled: list[Interval]
    online: list[Interval]
    available: list[Interval]
    played: list[Interval]


def _spans(session: Session, names: Names, *, lo: datetime, hi: datetime, tz: ZoneInfo,
           screen_ids: list[int]) -> dict[int, _Spans]:
    playing: dict[int, list[Interval]] = defaultdict(list)
    for screen_id, run in _plain_runs(session, start=lo, end=hi, screen_ids=screen_ids):
        playing[screen_id].append(run)
    for play in iter_plays(session, start=lo, end=hi, screen_ids=screen_ids, skip_plain=True):
        playing[play.screen_id].append((play.start, play.end))
    out: dict[int, _Spans] = {}
    for screen_id in screen_ids:
        screen = names.screens.get(screen_id)
        if screen is None:
            continue
        service = in_service(screen, start=lo, end=hi)
        if not service:
            continue
        site = names.sites.get(screen.site_id)
        scheduled = intersect(on_hours(screen, start=lo, end=hi, tz=zone(site.timezone) if site else tz), service)
        online = intersect(scheduled, online_spans(session, screen_id=screen_id, start=lo, end=hi))
        played = merge(playing[screen_id], gap=PLAY_GAP_TOLERANCE)
        out[screen_id] = _Spans(scheduled, online, intersect(online, played), played)
    return out


def _window(period: Period, tz: ZoneInfo, now: datetime) -> Interval:
    lo, hi = period.bounds(tz)
    return lo, min(hi, max(now, lo))


def _rows(names: Names, spans: dict[int, _Spans]) -> list[Availability]:
    out = [Availability(screen_id, names.screen(screen_id), names.site_of(screen_id)[1], total(sp.scheduled),
                        total(sp.online), total(sp.available), _outages(screen_id, sp))
           for screen_id, sp in spans.items()]
    return sorted(out, key=lambda a: (a.site, a.screen))


def _days(period: Period, tz: ZoneInfo, spans: Iterable[_Spans]) -> list[tuple[date, float | None]]:
    spans = list(spans)
    out: list[tuple[date, float | None]] = []
    for day in period.days():
        window = [Period(day, day).bounds(tz)]
        scheduled = sum(total(intersect(sp.scheduled, window)) for sp in spans)
        available = sum(total(intersect(sp.available, window)) for sp in spans)
        out.append((day, round(100 * available / scheduled, 2) if scheduled else None))
    return out


def availability(session: Session, *, period: Period, tz: ZoneInfo, now: datetime,
                 screen_ids: Iterable[int] | None = None) -> list[Availability]:
    """Per screen: scheduled on-hours up to `now`, how much was online and playing, and the outages."""
    lo, hi = _window(period, tz, now)
    names = load_names(session)
    wanted = sorted(names.screens if screen_ids is None else set(screen_ids))
    return _rows(names, _spans(session, names, lo=lo, hi=hi, tz=tz, screen_ids=wanted))


def availability_with_days(session: Session, *, period: Period, tz: ZoneInfo,
                           now: datetime) -> tuple[list[Availability], list[tuple[date, float | None]]]:
    """Per screen figures and the fleet's per-day percentages from one read of the journal."""
    lo, hi = _window(period, tz, now)
    names = load_names(session)
    spans = _spans(session, names, lo=lo, hi=hi, tz=tz, screen_ids=sorted(names.screens))
    return _rows(names, spans), _days(period, tz, spans.values())


def fleet_percent(rows: Iterable[Availability]) -> float | None:
    """Availability of all screens together, weighted by their scheduled hours."""
    rows = list(rows)
    scheduled = sum(r.scheduled_s for r in rows)
    return round(100 * sum(r.available_s for r in rows) / scheduled, 2) if scheduled else None


def availability_by_day(session: Session, *, period: Period, tz: ZoneInfo, now: datetime) -> list[tuple[date, float | None]]:
    """Fleet availability per local day, for the "availability over time" chart; days without on-hours are None."""
    return availability_with_days(session, period=period, tz=tz, now=now)[1]


# ---- one slide -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SlideRun:
    """Where one slide ran: per screen and local day, plays, minutes and the first and last play."""

    screen_id: int
    screen: str
    site: str
    day: date
    plays: int
    seconds: float
    first: datetime
    last: datetime
    languages: dict[str, int]

    @property
    def minutes(self) -> float:
        return round(self.seconds / 60, 2)


def slide_runs(session: Session, *, slide_id: str, period: Period, tz: ZoneInfo) -> list[SlideRun]:
    """Where and when a slide ran, by screen and day, oldest first."""
    lo, hi = period.bounds(tz)
    names = load_names(session)
    runs: dict[tuple[int, date], SlideRun] = {}
    shown: dict[int, set[str]] = defaultdict(set)
    plays = [play for play in iter_plays(session, start=lo, end=hi, slide_id=slide_id) if lo <= play.start < hi]
    for play, language, _, _ in language_spans(session, plays):
        shown[play.play_id].add(language)
    for play in plays:
        day = play.start.astimezone(tz).date()
        run = runs.get((play.screen_id, day))
        if run is None:
            run = runs[(play.screen_id, day)] = SlideRun(
                play.screen_id, names.screen(play.screen_id), names.site_of(play.screen_id)[1], day, 0, 0.0,
                play.start, play.end, {})
        run.plays += 1
        run.seconds += (play.end - play.start).total_seconds()
        run.first, run.last = min(run.first, play.start), max(run.last, play.end)
        for language in shown[play.play_id]:  # plays in which each language was on screen
            run.languages[language] = run.languages.get(language, 0) + 1
    return sorted(runs.values(), key=lambda r: (r.day, r.screen))


# ---- captions for the web portals -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaptionRow:
    """One slide for the portals: its approved texts, when each was approved, its image, when it changed.

    `published` is False for a slide that changed since the portal's last poll and has no approved caption
    any more: the portal should take it down.
    """

    slide_id: int
    slide: str
    texts: dict[str, str]
    approved_at: datetime | None
    approved: dict[str, datetime | None] = field(default_factory=dict)
    image: dict[str, Any] | None = None
    changed_at: datetime | None = None
    published: bool = True

    @property
    def title(self) -> str:
        """The Vietnamese caption is the slide's title on the portal; the slide's name when it has none."""
        return self.texts.get("vi") or self.slide


def approved_captions(session: Session, *, changed_since: datetime | None = None) -> list[CaptionRow]:
    """Every slide with a live (approved) caption: texts and approval times per language, its image (task 5.6).

    With `changed_since`, only slides whose slide row or live captions changed after it, including those
    left with no live caption (published False), so that a portal polling the feed stays in step.
    """
    from signage_server.assets.models import Asset

    slides = {s.id: s for s in session.exec(select(Slide)).all() if s.id is not None}
    assets = {a.id: a for a in session.exec(select(Asset)).all() if a.id is not None}
    live: dict[int, list[CaptionRevision]] = defaultdict(list)
    for rev in session.exec(select(CaptionRevision).where(CaptionRevision.state == CaptionState.APPROVED)
                            .order_by(col(CaptionRevision.slide_id), col(CaptionRevision.language))).all():
        live[rev.slide_id].append(rev)
    rows: list[CaptionRow] = []
    for slide_id, slide in slides.items():
        caps = live.get(slide_id, [])
        changed = max([slide.updated_at, *(c.approved_at or c.updated_at for c in caps)])
        if changed_since is not None and changed <= changed_since:
            continue
        if not caps and changed_since is None:
            continue
        asset = assets.get(slide.asset_id) if slide.asset_id is not None else None
        image = ({"url": f"/api/v1/assets/{asset.id}/content", "media_type": asset.media_type,
                  "sha256": asset.sha256, "width": asset.width_px, "height": asset.height_px}
                 if asset is not None else None)
        times = [c.approved_at for c in caps if c.approved_at is not None]
        rows.append(CaptionRow(slide_id, slide.name, {c.language: c.text for c in caps},
                               max(times) if times else None, {c.language: c.approved_at for c in caps},
                               image, changed, bool(caps)))
    return sorted(rows, key=lambda r: r.slide)
