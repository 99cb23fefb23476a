"""Recompile on change: changes are noted at flush or by the services (changes.py), compiled inside the
same commit, announced after it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from signage_core.signing import SigningKey
from signage_server.captions.models import CaptionRevision
from signage_server.manifests import changes, compiler
from signage_server.playlists.models import PlaylistItem
from signage_server.schedules import service as schedules
from signage_server.schedules.models import Schedule, ScheduleGroupLink, ScheduleScreenLink
from signage_server.screens.models import Screen, ScreenGroup, ScreenGroupLink, Site
from signage_server.screens.service import screen_ids_for_playlist
from signage_server.slides.models import Slide

log = logging.getLogger(__name__)

_RECOMPILER = "manifest_recompiler"
_TOUCHED = "manifest_touched"
_ISSUED = "manifest_issued"
_COMPILING = "manifest_compiling"



@dataclass(frozen=True)
class Issued:
    """A version just signed for a screen: whoever publishes it need not read it back from the database."""

    version: int
    envelope_json: bytes


class Announcement(list[str]):
    """Screen ids given a new version, in id order; `envelopes` holds those signed in this process."""

    def __init__(self, screen_ids: Iterable[str], envelopes: Mapping[str, Issued] | None = None) -> None:
        super().__init__(screen_ids)
        self.envelopes: dict[str, Issued] = dict(envelopes or {})


Listener = Callable[[Announcement], None]


class ManifestEvents:
    """Fan-out of "these screens have a new manifest version", called only after the commit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Register a callback; returns the function that unsubscribes it."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def publish(self, screen_ids: list[str], envelopes: Mapping[str, Issued] | None = None) -> None:
        """Tell every listener; one failing listener neither stops the others nor the request."""
        if not screen_ids:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(Announcement(screen_ids, envelopes))
            except Exception:  # a listener's bug must not undo a committed change
                log.exception("manifest listener %r failed for screens %s", listener, screen_ids)


class Recompiler:
    """Installed on a session: at commit, recompiles the screens its changes affect, then notifies."""

    def __init__(self, *, key: Callable[[], SigningKey], events: ManifestEvents, clock: Callable[[], datetime],
                 horizon_days: int = compiler.DEFAULT_HORIZON_DAYS) -> None:
        self.key = key
        self.events = events
        self.clock = clock
        self.horizon_days = horizon_days

    def install(self, session: Session) -> Session:
        session.info[_RECOMPILER] = self
        return session

    def wrap(self, factory: Callable[[], Session]) -> Callable[[], Session]:
        """A session factory whose sessions recompile on commit."""

        def make() -> Session:
            return self.install(factory())

        return make

    def defer_notice(self, session: Session, screen_ids: list[str]) -> None:
        """Announce these screens' newest versions once this session commits (never if it rolls back)."""
        issued: dict[str, Issued | None] = session.info.setdefault(_ISSUED, {})
        for screen_id in screen_ids:
            issued.setdefault(screen_id, None)

    def compile_results(self, session: Session, screen_ids: set[int]) -> list[compiler.CompileResult]:
        """Compile now in this session, without the compile's own writes counting as changes."""
        session.info[_COMPILING] = True
        key, now = self.key(), self.clock()
        results: list[compiler.CompileResult] = []
        try:
            try:
                # One savepoint, one flush for the batch: per-screen flushes cost more than the compile.
                with session.begin_nested():
                    results = compiler.compile_screens(session, screen_ids=screen_ids, key=key, now=now,
                                                      horizon_days=self.horizon_days)
            except Exception:
                log.exception("compiling %d screen(s) together failed; compiling them one by one", len(screen_ids))
                results = self._one_by_one(session, screen_ids, key, now)
        finally:
            session.info.pop(_COMPILING, None)
        issued: dict[str, Issued | None] = session.info.setdefault(_ISSUED, {})
        for result in results:
            if result.error:
                log.warning("screen %s: no new manifest: %s", result.screen_id, result.error)
            if result.new_version and isinstance(result.record, compiler.IssuedManifest):
                # Announced after the commit with the envelope just signed: publishing reads nothing back.
                issued[str(result.screen_id)] = Issued(result.record.version, result.record.envelope_json)
        return results

    def _one_by_one(self, session: Session, screen_ids: set[int], key: SigningKey,
                    now: datetime) -> list[compiler.CompileResult]:
        """A savepoint per screen: a compile bug must not undo the edit that triggered it, nor the other screens."""
        cache = compiler.CompileCache()
        results: list[compiler.CompileResult] = []
        for screen_id in sorted(screen_ids):
            try:
                with session.begin_nested():
                    results.append(compiler.compile_screen(session, screen_id=screen_id, key=key, now=now,
                                                          horizon_days=self.horizon_days, cache=cache))
            except Exception:
                log.exception("screen %s: compile failed; the horizon job will try again", screen_id)
                results.append(compiler.CompileResult(screen_id, None, False, error="compile failed"))
        return results

    def compile(self, session: Session, screen_ids: set[int]) -> list[str]:
        """Compile and return the ids (as manifest screen ids) that got a new version, announced after commit."""
        return [str(r.screen_id) for r in self.compile_results(session, screen_ids) if r.new_version]


def _touch(session: OrmSession, kind: str, value: Any) -> None:
    if value is not None:
        session.info.setdefault(_TOUCHED, set()).add((kind, int(value)))


@event.listens_for(OrmSession, "after_flush")
def _after_flush(session: OrmSession, _context: object) -> None:
    if _RECOMPILER not in session.info or session.info.get(_COMPILING):
        return
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, CaptionRevision):
            _touch(session, "slide", obj.slide_id)
        elif isinstance(obj, Slide):
            _touch(session, "slide", obj.id)
        elif isinstance(obj, PlaylistItem):
            _touch(session, "playlist", obj.playlist_id)
        elif isinstance(obj, ScreenGroup | Site) and obj in session.dirty and _changed(obj) & _PLAN_FIELDS:
            _touch(session, "brightness_group" if isinstance(obj, ScreenGroup) else "site", obj.id)
        elif isinstance(obj, Screen) and obj not in session.deleted:
            if obj in session.new or not _only_operational(obj):
                _touch(session, "screen", obj.id)
        elif isinstance(obj, ScreenGroupLink | ScheduleScreenLink):
            _touch(session, "screen", obj.screen_id)
        elif isinstance(obj, ScheduleGroupLink):
            _touch(session, "group", obj.group_id)
        elif isinstance(obj, Schedule):
            _touch(session, "schedule", obj.id)


# Screen columns no manifest reads: enrolling a screen must not recompile every screen on its playlist
# (commissioned_at is set by the first enrolment). revoked_at is not among them: a revoked screen's
# languages stop being required, which can put a slide on the screens sharing its playlists.
_OPERATIONAL = frozenset({"enrolment", "updated_at", "manifest_version", "commissioned_at"})


# Group and site columns a manifest reads: the group's brightness plan, the site's coordinates.
_PLAN_FIELDS = frozenset({"brightness", "latitude", "longitude"})


def _changed(row: object) -> set[str]:
    return {attr.key for attr in sa_inspect(row).attrs if attr.history.has_changes()}


def _only_operational(screen: Screen) -> bool:
    return _changed(screen) <= _OPERATIONAL


def _playlists_of_screen(session: Session, screen_id: int) -> set[int]:
    """The default playlist and every scheduled one (direct or by group) of a screen."""
    screen = session.get(Screen, screen_id)
    found = {s.playlist_id for s in schedules.schedules_for_screen(session, screen_id=screen_id)}
    if screen is not None and screen.default_playlist_id is not None:
        found.add(screen.default_playlist_id)
    return found


def affected_screens(session: Session, touched: set[tuple[str, int]]) -> set[int]:
    """Screens whose manifest may depend on the touched slides, playlists, schedules, groups, screens.

    A slide is publishable only when every screen showing it has its languages approved, so a change to
    one screen's languages or schedules can take a slide off (or put it on) other screens too: the
    change is followed to the playlists involved and on to every screen that shows them.
    """
    screens: set[int] = set()
    # A group's plan or a site's coordinates reach its screens' manifests only: no publish rule follows.
    direct: set[int] = set()
    for kind, value in touched:
        if kind == "brightness_group":
            direct.update(session.exec(select(ScreenGroupLink.screen_id).where(ScreenGroupLink.group_id == value)))
        elif kind == "site":
            direct.update(i for i in session.exec(select(Screen.id).where(Screen.site_id == value)) if i is not None)
    playlists: set[int] = {v for k, v in touched if k == "playlist"}
    slide_ids = [v for k, v in touched if k == "slide"]
    if slide_ids:
        playlists.update(session.exec(select(PlaylistItem.playlist_id).where(
            col(PlaylistItem.slide_id).in_(slide_ids))).all())
    for kind, value in touched:
        if kind == "screen":
            screens.add(value)
        elif kind == "schedule":
            screens.update(schedules.screens_of_schedule(session, schedule_id=value))
            schedule = session.get(Schedule, value)
            if schedule is not None:
                playlists.add(schedule.playlist_id)
        elif kind == "group":
            screens.update(session.exec(select(ScreenGroupLink.screen_id).where(ScreenGroupLink.group_id == value)))
    for screen_id in list(screens):
        playlists.update(_playlists_of_screen(session, screen_id))
    for playlist_id in playlists:
        screens.update(screen_ids_for_playlist(session, playlist_id=playlist_id))
    screens |= direct
    existing = set(session.exec(select(Screen.id).where(col(Screen.id).in_(screens))).all()) if screens else set()
    return {s for s in existing if s is not None}


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    recompiler = session.info.get(_RECOMPILER)
    if not isinstance(recompiler, Recompiler) or not isinstance(session, Session):
        return
    session.flush()
    touched: set[tuple[str, int]] = session.info.pop(_TOUCHED, set())
    if session.info.get(changes.NOTED):
        touched |= changes.take_changes(session)
    if not touched:
        return
    recompiler.compile(session, affected_screens(session, touched))  # announced after the commit


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session: OrmSession) -> None:
    root = session.get_transaction()
    if root is not None and root.is_active:
        # A savepoint was released (this event fires for those too): the outer transaction still holds
        # the new manifests, so a listener's own session would wait on SQLite or read the old ones.
        return
    recompiler = session.info.get(_RECOMPILER)
    issued: dict[str, Issued | None] = session.info.pop(_ISSUED, {})
    if isinstance(recompiler, Recompiler) and issued:
        recompiler.events.publish(sorted(issued, key=int),
                                  {sid: known for sid, known in issued.items() if known is not None})


@event.listens_for(OrmSession, "after_soft_rollback")
def _after_rollback(session: OrmSession, _previous: object) -> None:
    session.info.pop(_TOUCHED, None)
    session.info.pop(_ISSUED, None)
