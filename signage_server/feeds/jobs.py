"""The feed job: poll the data feeds that are due and publish every zoned screen's signed readings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlmodel import Session

from signage_core.signing import SigningKey
from signage_server.db import SessionFactory, transaction
from signage_server.feeds import service, sources

log = logging.getLogger(__name__)
Publish = Callable[[Sequence[tuple[str, bytes]]], object]


class FeedJob:
    """Runs every minute in the scheduler process; a feed is fetched when its own period has passed."""

    def __init__(self, *, sessions: SessionFactory, key: Callable[[], SigningKey], publish: Publish,
                 clock: Callable[[], datetime], fetch: sources.Fetch = sources.fetch_http) -> None:
        self.sessions = sessions
        self.key = key
        self.publish = publish
        self.clock = clock
        self.fetch = fetch

    def run(self) -> int:
        """One pass; returns how many screens were sent new readings (none when no value changed)."""
        now = self.clock()
        with transaction(self._session) as session:
            changed = [service.poll(session, feed=feed, fetch=self.fetch, now=now)
                       for feed in service.due_feeds(session, now=now)]
            messages = service.feed_messages(session, key=self.key(), now=now) if any(changed) else []
        if messages:
            self.publish(messages)
            log.info("feed values sent to %d screen(s)", len(messages))
        return len(messages)

    def _session(self) -> Session:
        return self.sessions()
