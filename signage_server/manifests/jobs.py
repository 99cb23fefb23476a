"""The horizon job: manifests are recompiled daily and before they expire, even when nobody edits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session

from signage_core.schedule import TIMEZONE
from signage_server.db import SessionFactory, transaction
from signage_server.feeds.jobs import FeedJob
from signage_server.manifests import history
from signage_server.manifests.events import Recompiler
from signage_server.manifests.keys import DEFAULT_GRACE, KeyRing, Rotation, rotate_key

log = logging.getLogger(__name__)


class HorizonJob:
    """Recompiles screens so every manifest's horizon keeps reaching a week ahead."""

    def __init__(self, *, sessions: SessionFactory, recompiler: Recompiler) -> None:
        self.sessions = sessions
        self.recompiler = recompiler

    def run(self, *, everything: bool, now: datetime | None = None) -> list[str]:
        """One pass: all screens (daily) or only those expiring soon; returns ids given a new version."""
        with transaction(self._session) as session:
            at = now or self.recompiler.clock()
            ids = set(history.all_screen_ids(session) if everything else history.expiring_screen_ids(session, now=at))
            issued = self._compile(session, ids)
        log.info("horizon job compiled %d screen(s), %d new version(s)", len(ids), len(issued))
        return issued

    def resign(self) -> list[str]:
        """Re-sign every screen whose newest manifest is not signed by the current key (after a rotation)."""
        with transaction(self._session) as session:
            key_id = self.recompiler.key().key_id
            latest = history.latest_headers(session, screen_ids=history.all_screen_ids(session))
            ids = {sid for sid, record in latest.items() if record.key_id != key_id}
            issued = self._compile(session, ids)
        if ids:
            log.info("re-signed %d manifest(s) with key %s", len(issued), key_id)
        return issued

    def _session(self) -> Session:
        return self.recompiler.install(self.sessions())

    def _compile(self, session: Session, ids: set[int]) -> list[str]:
        """Compile now; the new versions are announced once the job's transaction commits."""
        return self.recompiler.compile(session, ids) if ids else []

    def daily(self) -> list[str]:
        return self.run(everything=True)

    def expiring(self) -> list[str]:
        return self.run(everything=False)


class KeyWatch:
    """Gets a new signing key to every player: hand-over chain and re-signed manifests, published."""

    def __init__(self, *, ring: KeyRing, resign: Callable[[], object], publish_chain: Callable[[], object],
                 publish_manifests: Callable[[], object]) -> None:
        self.ring = ring
        self._resign = resign
        self._publish_chain = publish_chain
        self._publish_manifests = publish_manifests
        self._lock = threading.Lock()
        self._seen: tuple[str, int] | None = None  # None: never published by this process

    def _state(self) -> tuple[str, int]:
        # KeyRing re-reads the file when its inode or mtime changed, so this is a stat when nothing did.
        return self.ring.current().key_id, len(self.ring.handovers())

    def check(self) -> bool:
        """Cheap when nothing changed; after a rotation (CLI or not) re-sign then publish; True if it did."""
        with self._lock:
            state = self._state()
            if state == self._seen:
                return False
            # Chain first, so players trust the new key before any manifest it signed reaches them;
            # then re-sign (a CLI rotation may not have committed its own yet) and publish every manifest.
            self._publish_chain()
            self._resign()
            self._publish_manifests()
            self._seen = state
        log.info("signing key %s (%d hand-over(s)) published to players", state[0], state[1])
        return True

    def rotate(self, *, now: datetime, grace: timedelta | None = DEFAULT_GRACE) -> Rotation:
        """Rotate inside the server: the players hear of it at once, not at the next check."""
        with self._lock:
            rotation = rotate_key(self.ring.data_dir, now=now, grace=grace)
        self.check()
        return rotation


def build_scheduler(job: HorizonJob, *, key_watch: KeyWatch | None = None,
                    key_check_interval_s: int = 60, feed_job: FeedJob | None = None) -> BackgroundScheduler:
    """The one place the jobs are registered: daily just after local midnight, hourly for expiry, keys often."""
    scheduler = BackgroundScheduler(timezone=TIMEZONE)
    if key_watch is not None:
        # First run at start: a rotation made while the server was down reaches the players too.
        scheduler.add_job(key_watch.check, IntervalTrigger(seconds=key_check_interval_s, timezone=TIMEZONE),
                          id="signing-key-watch", coalesce=True, max_instances=1,
                          next_run_time=datetime.now(TIMEZONE))
    # Horizons are day-aligned in local time, so the new day's horizon exists from 00:00 local.
    scheduler.add_job(job.daily, CronTrigger(hour=0, minute=5, timezone=TIMEZONE), id="manifests-daily",
                      coalesce=True, max_instances=1, misfire_grace_time=3600)
    scheduler.add_job(job.expiring, IntervalTrigger(hours=1, timezone=TIMEZONE), id="manifests-expiring",
                      coalesce=True, max_instances=1)
    if feed_job is not None:
        # Each feed keeps its own period; the job only looks every minute which are due.
        scheduler.add_job(feed_job.run, IntervalTrigger(minutes=1, timezone=TIMEZONE), id="data-feeds",
                          coalesce=True, max_instances=1, next_run_time=datetime.now(TIMEZONE))
    return scheduler
