"""Proof-of-play journal: every play is on disk from the moment it starts, and leaves only once the server has it.

File format (both `plays.log` and `acks.log`): frames of
`MAGIC(4) | length(4, big-endian) | crc32(4, of payload) | payload(JSON)`. A torn last frame
(power cut mid-write) fails its length or CRC and is cut off at open; a damaged frame in the
middle is skipped by searching for the next valid MAGIC. Records keep their uuid across
restarts so the server can de-duplicate a batch it acknowledged but whose ack we never saw.

An item is journaled twice under one id: an `open` frame when it starts and a `closed` frame
(duration, language segments) when it ends; the later frame wins. `current` holds a checkpoint of
the item on screen (two CRC'd slots, overwritten in place about once a second), so an item cut
off by a crash is closed at the next start at its last checkpoint and flagged `interrupted`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from player_agent.fsutil import (
    atomic_write_bytes,
    lock_exclusive,
    unlock,
    write_all,
)
from signage_core.languages import Language

log = logging.getLogger(__name__)

MAGIC = b"\xa5PJ1"
_HEADER = struct.Struct(">4sII")
MAX_PAYLOAD = 64 * 1024
# Compact when this many acknowledged bytes are dead weight in the plays file.
COMPACT_THRESHOLD = 256 * 1024


class JournalError(Exception):
    """The journal cannot be written or read."""


class LanguageSegment(BaseModel):
    """One language on screen during a play, from `offset_ms` after its start, for `duration_ms`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Language
    offset_ms: Annotated[int, Field(ge=0)]
    duration_ms: Annotated[int, Field(ge=0)]


RecordState = Literal["open", "closed", "void"]


class PlayRecord(BaseModel):
    """One item that was really on screen: what, from which manifest, when, for how long, in which languages.

    `duration_ms` comes from the monotonic clock; `clock_jump_ms` says how far the wall clock moved beyond
    that during the item (a jump is recorded as such, never as airtime). `segments` None means the split
    is unknown (a record journaled by a player before language segments).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: UUID
    slide_id: str = Field(min_length=1, max_length=200)
    playlist_id: str | None = Field(default=None, max_length=200)
    manifest_version: Annotated[int, Field(ge=0)]
    started_at: AwareDatetime
    duration_ms: Annotated[int, Field(ge=0)] = 0
    segments: tuple[LanguageSegment, ...] | None = ()
    frame_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    state: RecordState = "closed"
    interrupted: bool = False  # closed at the next start after a crash, at its last checkpoint
    clock_jump_ms: int = 0
    # The zone it played in: None the main zone (or a screen without zones), "ticker" a ticker message.
    zone: Literal["ticker"] | None = None
    language: Language | None = None  # older journals: the first frame's language, kept as it was sent then

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(milliseconds=self.duration_ms)

    @model_validator(mode="after")
    def _segments_inside(self) -> PlayRecord:
        for seg in self.segments or ():
            if seg.offset_ms + seg.duration_ms > self.duration_ms:
                raise ValueError(f"segment {seg.language.value} ends after the play's {self.duration_ms} ms")
        return self


class _LegacyRecord(BaseModel):
    """A record journaled before open/close records: read so an upgrade loses none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: UUID
    slide_id: str
    playlist_id: str | None = None
    language: Language
    started_at: AwareDatetime
    ended_at: AwareDatetime
    frame_hash: str
    manifest_version: int

    def upgraded(self) -> PlayRecord:
        duration = max(int((self.ended_at - self.started_at) / timedelta(milliseconds=1)), 0)
        return PlayRecord(id=self.id, slide_id=self.slide_id, playlist_id=self.playlist_id,
                          manifest_version=self.manifest_version, started_at=self.started_at,
                          duration_ms=duration, segments=None, frame_hash=self.frame_hash,
                          language=self.language)


class Checkpoint(BaseModel):
    """How far the item on screen had got: the instant a crash is closed at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: UUID
    duration_ms: Annotated[int, Field(ge=0)]
    segments: tuple[LanguageSegment, ...]
    seq: int = 0


@dataclass(frozen=True)
class JournalStats:
    pending: int
    plays_bytes: int
    skipped_frames: int
    dropped_tail_bytes: int


@dataclass(frozen=True)
class _Scan:
    payloads: list[tuple[int, bytes]]  # (offset, payload) of every valid frame
    good_end: int  # where the last valid frame ends: the tail after it is torn
    skipped: int


def encode_frame(payload: bytes) -> bytes:
    """One framed record; the CRC lets a reader tell a complete write from a torn one."""
    if len(payload) > MAX_PAYLOAD:
        raise JournalError(f"record of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _frame_at(data: bytes, offset: int) -> bytes | None:
    end_header = offset + _HEADER.size
    if end_header > len(data):
        return None
    magic, length, crc = _HEADER.unpack_from(data, offset)
    if magic != MAGIC or length > MAX_PAYLOAD or end_header + length > len(data):
        return None
    payload = data[end_header : end_header + length]
    if zlib.crc32(payload) != crc:
        return None
    return payload


def scan_frames(data: bytes) -> _Scan:
    """Every valid frame in order, resynchronising on MAGIC past damage."""
    payloads: list[tuple[int, bytes]] = []
    offset = 0
    good_end = 0
    skipped = 0
    while offset < len(data):
        payload = _frame_at(data, offset)
        if payload is not None:
            payloads.append((offset, payload))
            offset += _HEADER.size + len(payload)
            good_end = offset
            continue
        nxt = data.find(MAGIC, offset + 1)
        while nxt != -1 and _frame_at(data, nxt) is None:
            nxt = data.find(MAGIC, nxt + 1)
        if nxt == -1:
            break  # nothing valid after this point: a torn tail
        skipped += 1
        offset = nxt
    return _Scan(payloads=payloads, good_end=good_end, skipped=skipped)


class _FrameLog:
    """An append-only file of frames, fsynced per append, torn tail cut off when opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        self._fd = fd
        with open(path, "rb") as fh:
            data = fh.read()
        scan = scan_frames(data)
        self.scan = scan
        self.dropped_tail = len(data) - scan.good_end
        if self.dropped_tail:
            log.warning("%s: dropped %d torn byte(s) at the end", path, self.dropped_tail)
            os.ftruncate(fd, scan.good_end)
            os.fsync(fd)
        self.size = scan.good_end

    def append(self, payloads: Iterable[bytes]) -> list[int]:
        """Write frames at the end and fsync; returns each frame's offset."""
        blob = bytearray()
        offsets = []
        for payload in payloads:
            offsets.append(self.size + len(blob))
            blob += encode_frame(payload)
        if not blob:
            return offsets
        try:
            os.lseek(self._fd, self.size, os.SEEK_SET)
            write_all(self._fd, bytes(blob))
            os.fsync(self._fd)
        except OSError as exc:
            # Cut back whatever part did land so the next append starts on a frame boundary.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            reason = "disk full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
            raise JournalError(f"cannot append to {self.path}: {reason or exc}") from exc
        self.size += len(blob)
        return offsets

    def read_payload(self, offset: int) -> bytes:
        header = os.pread(self._fd, _HEADER.size, offset)
        _, length, _ = _HEADER.unpack(header)
        return os.pread(self._fd, length, offset + _HEADER.size)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class Journal:
    """Append plays, hand out un-acknowledged batches, forget them only after the server's ack."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._lock = threading.Lock()
        # One writer: a second opener would "repair" the tail the first is still writing.
        self._flock = lock_exclusive(directory / "lock", f"play journal {directory}")
        try:
            self._open()
        except BaseException:
            unlock(self._flock)
            raise

    def _open(self) -> None:
        directory = self.directory
        self._plays_path = directory / "plays.log"
        self._acks_path = directory / "acks.log"
        for leftover in directory.glob(".*.tmp"):
            leftover.unlink()  # a compaction cut short; the originals are intact
        self._plays = _FrameLog(self._plays_path)
        self._acks = _FrameLog(self._acks_path)
        self._checkpoints = _Checkpoints(directory / "current")
        acked: set[UUID] = set()
        for _, payload in self._acks.scan.payloads:
            with contextlib.suppress(ValueError):
                acked.add(UUID(payload.decode("ascii")))
        # Insertion-ordered: the batch reader returns plays oldest first.
        self._pending: dict[UUID, int] = {}
        self._open_ids: dict[UUID, int] = {}
        self._known: set[UUID] = set()
        self._skipped = self._plays.scan.skipped + self._acks.scan.skipped
        self._dead_bytes = 0
        latest: dict[UUID, tuple[int, PlayRecord]] = {}
        for offset, payload in self._plays.scan.payloads:
            record = self._parse(payload)
            if record is None:
                self._skipped += 1
                continue
            if record.id in latest:
                self._dead_bytes += _HEADER.size + len(self._plays.read_payload(latest[record.id][0]))
            latest[record.id] = (offset, record)
        for record_id, (offset, record) in latest.items():
            self._known.add(record_id)
            if record_id in acked or record.state == "void":
                self._dead_bytes += _HEADER.size + len(self._plays.read_payload(offset))
            elif record.state == "open":
                self._open_ids[record_id] = offset
            else:
                self._pending[record_id] = offset
        self._dropped_tail = self._plays.dropped_tail + self._acks.dropped_tail
        self._plays.scan = _Scan([], self._plays.size, 0)  # free the startup copy
        self._acks.scan = _Scan([], self._acks.size, 0)
        self.recovered = self._close_interrupted()

    def _close_interrupted(self) -> int:
        """Items on screen when the player died: closed at their last checkpoint, flagged; returns how many."""
        if not self._open_ids:
            return 0
        mark = self._checkpoints.read()
        closed = []
        for offset in self._open_ids.values():
            record = self._parse(self._plays.read_payload(offset))
            if record is None:
                continue
            done = mark if mark is not None and mark.id == record.id else None
            closed.append(record.model_copy(update={
                "state": "closed", "interrupted": True,
                "duration_ms": done.duration_ms if done else 0,
                "segments": done.segments if done else ()}))
        try:
            offsets = self._plays.append([r.model_dump_json().encode() for r in closed])
        except JournalError as exc:
            log.warning("interrupted plays stay open until the disk has room: %s", exc)
            return 0
        for record, offset in zip(closed, offsets, strict=True):
            self._dead_bytes += _HEADER.size + len(self._plays.read_payload(self._open_ids.pop(record.id)))
            self._pending[record.id] = offset
        log.info("closed %d play(s) cut off by a restart at their last checkpoint", len(closed))
        return len(closed)

    @staticmethod
    def _parse(payload: bytes) -> PlayRecord | None:
        try:
            return PlayRecord.model_validate_json(payload)
        except ValidationError:
            pass
        try:
            return _LegacyRecord.model_validate_json(payload).upgraded()
        except ValidationError:
            return None

    def append(self, record: PlayRecord) -> bool:
        """Durably record a finished play; False when this id is already journaled (a retried append)."""
        with self._lock:
            if record.id in self._known and record.id not in self._open_ids:
                return False
            self._write(record)
            return True

    def open_play(self, record: PlayRecord) -> None:
        """Journal an item as it starts (state open): a crash from here on still leaves a record."""
        if record.state != "open":
            raise ValueError(f"open_play takes an open record, got {record.state}")
        with self._lock:
            if record.id in self._known:
                raise JournalError(f"play {record.id} is journaled already")
            self._write(record)

    def close_play(self, record: PlayRecord) -> None:
        """Journal how an opened item ended (closed, or void when it was never really on screen)."""
        if record.state == "open":
            raise ValueError("close_play takes a closed or void record")
        with self._lock:
            self._write(record)

    def _write(self, record: PlayRecord) -> None:
        (offset,) = self._plays.append([record.model_dump_json().encode()])
        previous = self._open_ids.pop(record.id, None)
        if previous is not None:
            self._dead_bytes += _HEADER.size + len(self._plays.read_payload(previous))
        self._known.add(record.id)
        if record.state == "open":
            self._open_ids[record.id] = offset
        elif record.state == "closed":
            self._pending[record.id] = offset
        else:
            self._dead_bytes += _HEADER.size + len(self._plays.read_payload(offset))

    def checkpoint(self, mark: Checkpoint) -> None:
        """Note how far the item on screen has got; cheap (no fsync), called about once a second."""
        with self._lock:
            self._checkpoints.write(mark)

    def pending(self, limit: int = 500) -> list[PlayRecord]:
        """The oldest un-acknowledged plays, for the next batch to the server."""
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        with self._lock:
            out: list[PlayRecord] = []
            for offset in self._pending.values():
                record = self._parse(self._plays.read_payload(offset))
                if record is None:
                    raise JournalError(f"{self._plays_path} changed under us at offset {offset}")
                out.append(record)
                if len(out) >= limit:
                    break
            return out

    def pending_count(self) -> int:
        return len(self._pending)

    def acknowledge(self, ids: Iterable[UUID]) -> int:
        """The server confirmed these plays: record that durably; returns how many were pending."""
        with self._lock:
            fresh = [i for i in dict.fromkeys(ids) if i in self._pending]
            if not fresh:
                return 0
            self._acks.append([str(i).encode("ascii") for i in fresh])
            for i in fresh:
                offset = self._pending.pop(i)
                self._dead_bytes += _HEADER.size + len(self._plays.read_payload(offset))
            if self._dead_bytes >= COMPACT_THRESHOLD and self._dead_bytes * 2 >= self._plays.size:
                try:
                    self._compact_locked()
                except OSError as exc:
                    # The ack is durable already; compaction can wait for free space.
                    log.warning("journal compaction postponed: %s", exc)
            return len(fresh)

    def compact(self) -> None:
        """Rewrite the plays file with only pending plays and empty the ack file."""
        with self._lock:
            self._compact_locked()

    def _compact_locked(self) -> None:
        payloads = [self._plays.read_payload(off) for off in [*self._pending.values(), *self._open_ids.values()]]
        blob = b"".join(encode_frame(p) for p in payloads)
        # New plays file first: a crash after it leaves stale acks for absent ids, which is harmless.
        self._replace(self._plays_path, blob)
        self._plays.close()
        self._plays = _FrameLog(self._plays_path)
        self._pending = {}
        self._open_ids = {}
        for offset, payload in self._plays.scan.payloads:
            record = self._parse(payload)
            if record is not None:
                (self._open_ids if record.state == "open" else self._pending)[record.id] = offset
        self._plays.scan = _Scan([], self._plays.size, 0)
        self._known = set(self._pending) | set(self._open_ids)
        self._replace(self._acks_path, b"")
        self._acks.close()
        self._acks = _FrameLog(self._acks_path)
        self._dead_bytes = 0

    def _replace(self, path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data, mode=0o640)

    def stats(self) -> JournalStats:
        return JournalStats(
            pending=len(self._pending),
            plays_bytes=self._plays.size,
            skipped_frames=self._skipped,
            dropped_tail_bytes=self._dropped_tail,
        )

    def close(self) -> None:
        self._plays.close()
        self._acks.close()
        self._checkpoints.close()
        unlock(self._flock)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def peek_pending(directory: Path) -> int:
    """Pending plays counted without opening for write (for `status` while the player runs)."""
    acked: set[bytes] = set()
    with contextlib.suppress(FileNotFoundError):
        acked = {p for _, p in scan_frames((directory / "acks.log").read_bytes()).payloads}
    try:
        plays = scan_frames((directory / "plays.log").read_bytes()).payloads
    except FileNotFoundError:
        return 0
    latest: dict[UUID, RecordState] = {}
    for _, payload in plays:
        record = Journal._parse(payload)
        if record is not None and str(record.id).encode("ascii") not in acked:
            latest[record.id] = record.state
    return sum(1 for state in latest.values() if state != "void")


class _Checkpoints:
    """Two fixed slots overwritten in turn, each with a CRC: a torn write leaves the other slot readable."""

    SLOT = 2048

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        found = self.read()
        self._seq = found.seq + 1 if found else 0

    def read(self) -> Checkpoint | None:
        best: Checkpoint | None = None
        for slot in range(2):
            payload = _frame_at(os.pread(self._fd, self.SLOT, slot * self.SLOT), 0)
            if payload is None:
                continue
            with contextlib.suppress(ValidationError):
                mark = Checkpoint.model_validate_json(payload)
                if best is None or mark.seq > best.seq:
                    best = mark
        return best

    def write(self, mark: Checkpoint) -> None:
        frame = encode_frame(mark.model_copy(update={"seq": self._seq}).model_dump_json().encode())
        if len(frame) > self.SLOT:
            return  # cannot happen with a few segments; never let a checkpoint stop playback
        try:
            os.pwrite(self._fd, frame.ljust(self.SLOT, b"\0"), (self._seq % 2) * self.SLOT)
        except OSError as exc:
            log.debug("checkpoint not written: %s", exc)  # disk full: the crash case loses this item's length
            return
        self._seq += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def new_play_id() -> UUID:
    """Random ids: unique across restarts without a counter that could be lost."""
    return uuid.uuid4()
