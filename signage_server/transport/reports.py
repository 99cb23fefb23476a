"""Screens' reports stored in batches: one transaction per batch, off the broker's network thread."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from signage_core.protocol import AlertAck, Heartbeat, PlayLogBatch, Status
from signage_server.alerts import service as alerts
from signage_server.db import SessionFactory, one_of
from signage_server.screens.models import Screen
from signage_server.telemetry import service as telemetry

log = logging.getLogger(__name__)

ReportBody = Status | Heartbeat | PlayLogBatch | AlertAck


@dataclass(frozen=True, slots=True)
class Report:
    """One parsed report, checked to speak for the screen whose topic it came on."""

    wire_id: str
    screen_id: int
    body: ReportBody
    received_at: datetime


@dataclass(slots=True)
class WriterStats:
    """What the writer did, for benchmarks and /readyz-style checks."""

    reports: int = 0
    batches: int = 0
    largest_batch: int = 0
    unknown_screen: int = 0
    failed: int = 0
    retried_batches: int = 0
    early_acks: int = 0  # acks that arrived before their alert's launch committed, held and retried
    unmatched_acks: int = 0  # of those, given up on: the alert never appeared within `early_ack_wait_s`
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Held:
    """An alert ack whose alert was not stored yet: when to try it again, and when to give up on it."""

    report: Report
    give_up_at: float
    retry_at: float
    delay: float


_STOP = object()


class ReportWriter:
    """Queues reports from the hub and stores them in batches on its own thread.

    A batch is whatever waited while the previous one was written (at most `max_batch`), plus what arrives
    within `max_delay_s` of its first report, unless it holds an alert ack (someone waits for those): at low
    rates a report is stored at once, under load the batches grow and one transaction carries hundreds of
    reports. A report is acknowledged (play records) only after its batch committed; `stop()` stores
    everything already queued before it returns. An alert ack naming an alert not stored yet (the launch
    publishes before its transaction commits) is retried after `early_ack_retry_s`, then at doubling
    intervals up to `early_ack_retry_max_s`, for up to `early_ack_wait_s`: the launch usually commits within
    milliseconds, and an ack whose alert never appears costs a few dozen reads, not one every 10 ms.
    """

    def __init__(self, sessions: SessionFactory, *, on_playlog_stored: Callable[[str, list[str]], None] | None = None,
                 max_batch: int = 1000, max_delay_s: float = 0.005, capacity: int = 100_000,
                 early_ack_wait_s: float = 60.0, early_ack_retry_s: float = 0.01,
                 early_ack_retry_max_s: float = 1.0) -> None:
        self._sessions = sessions
        self._on_playlog_stored = on_playlog_stored
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.early_ack_wait_s = early_ack_wait_s
        self.early_ack_retry_s = early_ack_retry_s
        self.early_ack_retry_max_s = early_ack_retry_max_s
        # Acks whose alert was not stored yet; only the writer thread touches it.
        self._early: list[_Held] = []
        # Bounded: a database that cannot keep up slows the broker connection down (back-pressure) rather
        # than growing memory without end; paho then leaves the backlog with the broker and the players.
        self._queue: queue.Queue[Report | object] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self.stats = WriterStats()

    def start(self) -> None:
        """Start the writer thread (once; a stopped writer may be started again)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="report-writer", daemon=True)
            self._thread.start()

    def submit(self, report: Report) -> None:
        """Queue a report; blocks only when `capacity` reports already wait (the database is far behind)."""
        with self._idle:
            self._pending += 1
        self._queue.put(report)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every report submitted so far is stored (or refused); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Store what is queued, then end the thread: a clean shutdown loses no report."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("the report writer did not finish within %.0f s; %d reports may be unsaved",
                      timeout_s, self._pending)

    # -- the writer thread

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self._until_retry())
            except queue.Empty:
                self._store([])  # only the held acks that are due: has their launch committed by now?
                continue
            if first is _STOP:
                self._finish()
                return
            batch: list[Report] = [first]  # type: ignore[list-item]
            has_ack = isinstance(batch[0].body, AlertAck)
            deadline = time.monotonic() + self.max_delay_s
            while len(batch) < self.max_batch:
                try:
                    # An approver waits on acks: take what is queued already, but do not wait for company.
                    wait = 0.0 if has_ack else max(0.0, deadline - time.monotonic())
                    item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True  # store this batch and the rest of the queue first
                    break
                batch.append(item)  # type: ignore[arg-type]
                has_ack = has_ack or isinstance(batch[-1].body, AlertAck)
            if stopping:
                self._drain_into(batch)
                self._finish()
            else:
                self._store(batch)

    def _until_retry(self) -> float | None:
        """How long the queue may stay quiet before the next held ack is due (None: nothing held)."""
        if not self._early:
            return None
        return max(0.0, min(h.retry_at for h in self._early) - time.monotonic())

    def _finish(self) -> None:
        """On stop: a last try for every held ack (its launch may have committed meanwhile), then drop them."""
        if self._early:
            self._store([], every_held=True)
        self._give_up(everything=True)

    def _drain_into(self, batch: list[Report]) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                batch.append(item)  # type: ignore[arg-type]
        for start in range(0, len(batch), self.max_batch):
            self._store(batch[start:start + self.max_batch])

    def _store(self, batch: list[Report], *, every_held: bool = False) -> None:
        """Store a batch of newly submitted reports, after the held early acks that are due."""
        now = time.monotonic()
        held = [h for h in self._early if every_held or h.retry_at <= now]
        self._early = [h for h in self._early if not (every_held or h.retry_at <= now)]
        together = [h.report for h in held] + batch
        if not together:
            return
        early: list[Report] = []
        try:
            try:
                stored = self._store_together(together, early)
            except Exception:  # one bad report must not cost the others: store them one by one
                log.warning("a batch of %d reports failed; storing them one at a time", len(together),
                            exc_info=True)
                self.stats.retried_batches += 1
                stored, early = [], []
                for report in together:
                    try:
                        stored.extend(self._store_together([report], early))
                    except Exception:
                        self.stats.failed += 1
                        log.exception("could not store a %s from screen %r", _kind(report), report.wire_id)
            self._hold(early, held)
            self._acknowledge(stored)
            if not batch:
                return
            self.stats.batches += 1
            self.stats.reports += len(batch)
            self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
            for report in batch:
                self.stats.by_kind[_kind(report)] = self.stats.by_kind.get(_kind(report), 0) + 1
        finally:
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _hold(self, early: list[Report], tried: list[_Held]) -> None:
        """Keep the acks whose alert is not stored yet, each until its own deadline; a retried one waits twice
        as long as last time before its next try (up to `early_ack_retry_max_s`)."""
        before = {id(h.report): h for h in tried}
        now = time.monotonic()
        again: list[_Held] = []
        for report in early:
            h = before.get(id(report))
            if h is None:
                self.stats.early_acks += 1
                h = _Held(report, give_up_at=now + self.early_ack_wait_s, retry_at=now, delay=self.early_ack_retry_s)
            else:
                h.delay = min(h.delay * 2, self.early_ack_retry_max_s)
            h.retry_at = now + h.delay
            again.append(h)
        self._early = again + self._early  # each names its own screen's target: their order does not matter
        self._give_up(everything=False)

    def _give_up(self, *, everything: bool) -> None:
        """Drop held acks past their deadline (all of them when stopping): their alert never appeared."""
        now = time.monotonic()
        keep = [] if everything else [h for h in self._early if h.give_up_at > now]
        dropped = len(self._early) - len(keep)
        if dropped:
            self.stats.unmatched_acks += dropped
            log.warning("%d alert acks name no stored alert (waited up to %.0f s); dropped", dropped,
                        self.early_ack_wait_s)
        self._early = keep

    def _store_together(self, batch: Sequence[Report], early: list[Report]) -> list[tuple[str, list[str]]]:
        """One transaction for the whole batch, applied in arrival order; returns play records to acknowledge.

        Acks for an alert not stored yet are added to `early` (nothing of theirs was written).
        """
        acks: list[tuple[str, list[str]]] = []
        with self._sessions() as session:
            known = self._known(session, batch)
            i = 0
            while i < len(batch):
                report = batch[i]
                if report.screen_id not in known:
                    self.stats.unknown_screen += 1
                    log.warning("%s from unknown screen %r dropped", _kind(report), report.wire_id)
                    i += 1
                    continue
                # Runs of one kind go in one call (one read per kind, one flush): heartbeats and acks come in bursts.
                j = i
                while j < len(batch) and type(batch[j].body) is type(report.body) and batch[j].screen_id in known:
                    j += 1
                self._apply(session, batch[i:j], acks, early)
                i = j
            session.commit()
        return acks

    @staticmethod
    def _known(session: Session, batch: Sequence[Report]) -> set[int]:
        """The batch's screens that exist (ids only: loading 1,000 Screen objects costs more than the beats)."""
        ids = {r.screen_id for r in batch}
        return {sid for sid in session.exec(select(Screen.id).where(one_of(session, col(Screen.id), ids))).all()
                if sid is not None}

    @staticmethod
    def _apply(session: Session, run: Sequence[Report], acks: list[tuple[str, list[str]]],
               early: list[Report]) -> None:
        body = run[0].body
        if isinstance(body, Heartbeat):
            telemetry.record_heartbeats(session, beats=[(r.screen_id, r.body, r.received_at) for r in run
                                                        if isinstance(r.body, Heartbeat)])
        elif isinstance(body, AlertAck):
            ack_run = [r for r in run if isinstance(r.body, AlertAck)]
            results = alerts.record_acks(session, acks=[(r.screen_id, r.body, r.received_at) for r in ack_run
                                                        if isinstance(r.body, AlertAck)])
            unmatched = [r for r, target in zip(ack_run, results, strict=True) if target is None]
            if unmatched:
                missing = alerts.alerts_not_stored(session, acks=[r.body for r in unmatched
                                                                  if isinstance(r.body, AlertAck)])
                early.extend(r for r in unmatched if isinstance(r.body, AlertAck) and r.body.alert_id in missing)
        else:
            for r in run:
                if isinstance(r.body, Status):
                    telemetry.record_status(session, screen_id=r.screen_id, status=r.body, received_at=r.received_at)
                elif isinstance(r.body, PlayLogBatch):
                    ids = telemetry.record_playlog(session, screen_id=r.screen_id, batch=r.body,
                                                   received_at=r.received_at)
                    acks.append((r.wire_id, ids))

    def _acknowledge(self, stored: list[tuple[str, list[str]]]) -> None:
        if self._on_playlog_stored is None:
            return
        for wire_id, ids in stored:
            if not ids:
                continue
            try:
                self._on_playlog_stored(wire_id, ids)
            except Exception:  # the player sends the records again and they are acknowledged then
                log.exception("could not acknowledge play records of screen %r", wire_id)


def _kind(report: Report) -> str:
    return {Status: "status", Heartbeat: "heartbeat", PlayLogBatch: "play log", AlertAck: "alert ack"}.get(
        type(report.body), "report")
