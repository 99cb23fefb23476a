"""Proof of play: durable appends, torn tails dropped, acknowledged plays gone for good."""

from __future__ import annotations

import errno
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from player_agent.fsutil import LockedError
from player_agent.journal import (
    MAGIC,
    Journal,
    JournalError,
    LanguageSegment,
    PlayRecord,
    encode_frame,
    new_play_id,
    peek_pending,
)
from signage_core.languages import Language

T0 = datetime(2026, 11, 15, 7, 0, tzinfo=UTC)


def play(n: int, slide: str = "tet-2027") -> PlayRecord:
    start = T0 + timedelta(seconds=8 * n)
    return PlayRecord(
        id=new_play_id(),
        slide_id=slide,
        started_at=start,
        duration_ms=8000,
        segments=(LanguageSegment(language=(Language.VI, Language.EN, Language.KM)[n % 3], offset_ms=0,
                                  duration_ms=8000),),
        frame_hash=hashlib.sha256(f"frame {n}".encode()).hexdigest(),
        manifest_version=42,
    )


def test_plays_survive_a_restart_in_order(tmp_path: Path) -> None:
    records = [play(n) for n in range(10)]
    with Journal(tmp_path) as journal:
        for r in records:
            assert journal.append(r)
    with Journal(tmp_path) as journal:
        assert journal.pending() == records
        assert journal.pending(limit=3) == records[:3]


def test_retried_append_is_not_counted_twice(tmp_path: Path) -> None:
    record = play(1)
    with Journal(tmp_path) as journal:
        assert journal.append(record)
        assert not journal.append(record)
    with Journal(tmp_path) as journal:
        assert not journal.append(record)
        assert journal.pending() == [record]


def test_acknowledged_plays_are_gone_after_restart(tmp_path: Path) -> None:
    records = [play(n) for n in range(6)]
    with Journal(tmp_path) as journal:
        for r in records:
            journal.append(r)
        assert journal.acknowledge([records[0].id, records[2].id, new_play_id()]) == 2
        assert journal.acknowledge([records[0].id]) == 0  # a repeated ack changes nothing
    with Journal(tmp_path) as journal:
        assert [r.id for r in journal.pending()] == [records[i].id for i in (1, 3, 4, 5)]


def test_compaction_keeps_exactly_the_pending_plays(tmp_path: Path) -> None:
    records = [play(n) for n in range(50)]
    with Journal(tmp_path) as journal:
        for r in records:
            journal.append(r)
        journal.acknowledge(r.id for r in records[:45])
        before = journal.stats().plays_bytes
        journal.compact()
        assert journal.stats().plays_bytes < before / 5
        assert journal.pending() == records[45:]
        extra = play(99)
        journal.append(extra)
    assert (tmp_path / "acks.log").stat().st_size == 0
    with Journal(tmp_path) as journal:
        assert journal.pending() == [*records[45:], extra]


def test_torn_last_write_is_dropped_and_appends_continue(tmp_path: Path) -> None:
    records = [play(n) for n in range(4)]
    with Journal(tmp_path) as journal:
        for r in records:
            journal.append(r)
    plays = tmp_path / "plays.log"
    whole = plays.read_bytes()
    torn = encode_frame(play(5).model_dump_json().encode())[:-7]  # power cut mid-write
    plays.write_bytes(whole + torn)
    with Journal(tmp_path) as journal:
        assert journal.pending() == records
        assert journal.stats().dropped_tail_bytes == len(torn)
        assert plays.stat().st_size == len(whole)
        later = play(6)
        journal.append(later)
    with Journal(tmp_path) as journal:
        assert journal.pending() == [*records, later]


def test_torn_header_only_is_dropped(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        journal.append(play(0))
    plays = tmp_path / "plays.log"
    plays.write_bytes(plays.read_bytes() + MAGIC + b"\x00\x00")
    with Journal(tmp_path) as journal:
        assert len(journal.pending()) == 1


def test_damaged_middle_record_is_skipped_not_the_rest(tmp_path: Path) -> None:
    records = [play(n) for n in range(3)]
    with Journal(tmp_path) as journal:
        for r in records:
            journal.append(r)
    plays = tmp_path / "plays.log"
    data = bytearray(plays.read_bytes())
    second = data.find(MAGIC, 1)
    data[second + 20] ^= 0xFF  # bit rot inside record 2's payload
    plays.write_bytes(bytes(data))
    with Journal(tmp_path) as journal:
        assert journal.pending() == [records[0], records[2]]
        assert journal.stats().skipped_frames == 1


def test_play_record_rejects_nonsense() -> None:
    good = play(0).model_dump()
    with pytest.raises(ValidationError, match="duration_ms"):
        PlayRecord(**{**good, "duration_ms": -1})
    with pytest.raises(ValidationError, match="ends after the play"):
        PlayRecord(**{**good, "duration_ms": 7999})
    with pytest.raises(ValidationError, match="timezone"):
        PlayRecord(**{**good, "started_at": datetime(2026, 1, 1)})
    with pytest.raises(ValidationError, match="language"):
        PlayRecord(**{**good, "segments": [{"language": "fr", "offset_ms": 0, "duration_ms": 1}]})
    with pytest.raises(ValidationError, match="frame_hash"):
        PlayRecord(**{**good, "frame_hash": "abc"})


def test_oversized_record_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="exceeds"):
        encode_frame(b"x" * (70 * 1024))


def test_automatic_compaction_bounds_the_file(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        for n in range(3000):
            r = play(n)
            journal.append(r)
            journal.acknowledge([r.id])
        # ~300 bytes a record: without compaction this would be ~900 kB.
        assert journal.stats().plays_bytes < 300 * 1024
        assert journal.pending_count() == 0


def test_one_writer_at_a_time_but_status_can_peek(tmp_path: Path) -> None:
    records = [play(n) for n in range(5)]
    with Journal(tmp_path) as journal:
        for r in records:
            journal.append(r)
        journal.acknowledge([records[0].id])
        with pytest.raises(LockedError, match="in use by another process"):
            Journal(tmp_path)
        assert peek_pending(tmp_path) == 4
    assert peek_pending(tmp_path / "nothing") == 0
    with Journal(tmp_path) as journal:  # released on close
        assert journal.pending_count() == 4


def test_disk_full_append_fails_cleanly_and_later_appends_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, lost, later = play(1), play(2), play(3)
    real_write = os.write
    with Journal(tmp_path) as journal:
        journal.append(first)
        size = (tmp_path / "plays.log").stat().st_size

        def half_then_full(fd: int, data: bytes | memoryview) -> int:
            monkeypatch.setattr(os, "write", raise_enospc)
            return real_write(fd, bytes(data)[:40])  # part of the frame lands, then ENOSPC

        def raise_enospc(fd: int, data: bytes | memoryview) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(JournalError, match="disk full"):
            journal.append(lost)
        monkeypatch.setattr(os, "write", real_write)
        assert (tmp_path / "plays.log").stat().st_size == size, "partial frame cut back"
        assert journal.append(later)
    with Journal(tmp_path) as journal:
        assert journal.pending() == [first, later]
        assert journal.stats().skipped_frames == 0
