"""Closed plays on their way to the server: journaled (held in memory while the disk is full), sent in
batches, resent until acknowledged."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from uuid import UUID

from player_agent.journal import Journal, JournalError, PlayRecord
from signage_core.protocol import LanguageSegment as WireSegment
from signage_core.protocol import PlayLogAck, PlayLogBatch
from signage_core.protocol import PlayRecord as WirePlayRecord

PLAYLOG_RESEND_S = 30.0
# Plays that could not be journaled (disk full) wait in memory, oldest dropped past this many.
HELD_PLAYS_MAX = 2000
BATCH_MAX = 500


class PlayOutbox:
    """What the journal holds plus what it could not take, and which of those are sent and when."""

    def __init__(self, journal: Journal, screen_id: str, *, error: Callable[[str], None]) -> None:
        self.journal = journal
        self.screen_id = screen_id
        self._error = error
        self.sent: dict[UUID, float] = {}  # record id -> monotonic time of its last send
        self.held: dict[UUID, PlayRecord] = {}  # closed plays the journal could not take
        self._journal_full = False

    def stored(self) -> None:
        """A journal write just worked, so there is space again: the plays held in memory go onto disk."""
        for record_id, record in list(self.held.items()):
            self.journal.append(record)
            del self.held[record_id]
        self._journal_full = False

    def hold(self, record: PlayRecord) -> None:
        """Keep a closed play the journal refused; it is sent from memory meanwhile."""
        self.held[record.id] = record
        while len(self.held) > HELD_PLAYS_MAX:
            lost = next(iter(self.held))
            del self.held[lost]
            self._error(f"disk full for long: play {lost} dropped from memory ({HELD_PLAYS_MAX} held)")

    def journal_failed(self, exc: JournalError) -> None:
        if not self._journal_full:  # once per episode, not once per play
            self._error(f"plays not journaled, held in memory and sent directly: {exc}")
        self._journal_full = True

    def flush(self, send: Callable[[PlayLogBatch], object]) -> None:
        """Send the next batch of plays not sent in this session (the link is up)."""
        waiting = [*self.journal.pending(limit=1000), *self.held.values()]
        fresh = [r for r in waiting if r.id not in self.sent][:BATCH_MAX]
        if not fresh:
            return
        send(PlayLogBatch(screen_id=self.screen_id, records=[_wire(r) for r in fresh]))
        mono = time.monotonic()
        for r in fresh:
            self.sent[r.id] = mono

    def acknowledge(self, ack: PlayLogAck) -> None:
        """The server stored these: they leave the journal and memory."""
        ids = []
        for text in ack.record_ids:
            with contextlib.suppress(ValueError):
                ids.append(UUID(text))
        self.journal.acknowledge(ids)
        for i in ids:
            self.sent.pop(i, None)
            self.held.pop(i, None)

    def resend_at(self) -> float | None:
        """Monotonic time after which unacknowledged sends count as lost; None: nothing awaits an ack."""
        return min(self.sent.values()) + PLAYLOG_RESEND_S if self.sent else None

    def forget_sent(self) -> None:
        """A new session, or acks overdue: every unacknowledged play is sent again."""
        self.sent.clear()


def _wire(record: PlayRecord) -> WirePlayRecord:
    segments = None if record.segments is None else [
        WireSegment(language=s.language, offset_ms=s.offset_ms, duration_ms=s.duration_ms) for s in record.segments]
    return WirePlayRecord(
        record_id=str(record.id), slide_id=record.slide_id, playlist_id=record.playlist_id,
        manifest_version=str(record.manifest_version), started_at=record.started_at,
        duration_ms=record.duration_ms, segments=segments, language=record.language,
        interrupted=record.interrupted, clock_jump_ms=record.clock_jump_ms, frame_hash=record.frame_hash,
        zone=record.zone,
    )
