"""The horizon job: manifests are recompiled daily and before they expire, even when nobody edits."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from signage_core.schedule import TIMEZONE
from signage_server.db import SessionFactory
from signage_server.manifests import service
from signage_server.manifests.events import Recompiler

log = logging.getLogger(__name__)


class HorizonJob:
    """Recompiles screens so every manifest's horizon keeps reaching a week ahead."""

    def __init__(self, *, sessions: SessionFactory, recompiler: Recompiler) -> None:
        self.sessions = sessions
        self.recompiler = recompiler

    def run(self, *, everything: bool, now: datetime | None = None) -> list[str]:
        """One pass: all screens (daily) or only those expiring soon; returns ids given a new version."""
        session = self.recompiler.install(self.sessions())
        try:
            at = now or self.recompiler.clock()
            ids = set(service.all_screen_ids(session) if everything else service.expiring_screen_ids(session, now=at))
            issued = self.recompiler.compile(session, ids) if ids else []
            self.recompiler.defer_notice(session, issued)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        log.info("horizon job compiled %d screen(s), %d new version(s)", len(ids), len(issued))
        return issued

    def daily(self) -> list[str]:
        return self.run(everything=True)

    def expiring(self) -> list[str]:
        return self.run(everything=False)


def build_scheduler(job: HorizonJob) -> BackgroundScheduler:
    """The one place the jobs are registered: daily just after local midnight, and hourly for expiry."""
    scheduler = BackgroundScheduler(timezone=TIMEZONE)
    # Horizons are day-aligned in local time, so the new day's horizon exists from 00:00 local.
    scheduler.add_job(job.daily, CronTrigger(hour=0, minute=5, timezone=TIMEZONE), id="manifests-daily",
                      coalesce=True, max_instances=1, misfire_grace_time=3600)
    scheduler.add_job(job.expiring, IntervalTrigger(hours=1, timezone=TIMEZONE), id="manifests-expiring",
                      coalesce=True, max_instances=1)
    return scheduler
