"""Durable file writes shared by state, cache, journal and outputs: a power cut leaves old or new, never half."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

# Re-exported: the player's modules import every durable-write helper from here.
from signage_core.fsutil import atomic_write_bytes as atomic_write_bytes
from signage_core.fsutil import fsync_dir as fsync_dir


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write may write less than asked; loop until everything is out."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LockedError(Exception):
    """Another process holds the lock: two writers would undo each other's recovery or writes."""


def lock_exclusive(lock_path: Path, what: str, *, wait: bool = False) -> int:
    """Take an flock on `lock_path` and return its fd; the kernel releases it if we are killed."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockedError(f"{what} is in use by another process (lock {lock_path})") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def unlock(fd: int) -> None:
    """Release a lock taken with lock_exclusive."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


LAST_GOOD_SUFFIX = ".last-good"
DAMAGED_SUFFIX = ".damaged"

T = TypeVar("T")


def last_good_path(path: Path) -> Path:
    """Where the second copy of a state file lives (same folder, so the rename stays atomic)."""
    return path.with_name(path.name + LAST_GOOD_SUFFIX)


def write_kept(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write the last-good copy first, then the file: a fault during either write leaves the other whole."""
    atomic_write_bytes(last_good_path(path), data, mode=mode)
    atomic_write_bytes(path, data, mode=mode)


@dataclass(frozen=True)
class Kept(Generic[T]):
    """What read_kept found: the value (None if neither copy is usable) and what went wrong, for status."""

    value: T | None
    problem: str | None = None
    from_last_good: bool = False


def read_kept(path: Path, parse: Callable[[bytes], T], *, repair: bool = False) -> Kept[T]:
    """The file, else its last-good copy; with repair, a damaged file is kept aside and rewritten from the copy.

    `parse` raises ValueError (pydantic's ValidationError is one) for content it refuses.
    """
    main_problem = None
    try:
        return Kept(parse(path.read_bytes()))
    except FileNotFoundError:
        main_problem = "is missing"
    except (OSError, ValueError) as exc:
        main_problem = f"is damaged ({_first_line(exc)})"
    if repair and main_problem != "is missing":
        # Kept for a technician (what did the disk do?); the file is rewritten from the copy or rebuilt.
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + DAMAGED_SUFFIX))
    copy = last_good_path(path)
    try:
        raw = copy.read_bytes()
        value = parse(raw)
    except FileNotFoundError:
        if main_problem == "is missing":
            return Kept(None)  # never written: nothing is wrong
        return Kept(None, f"{path.name} {main_problem} and has no last-good copy")
    except (OSError, ValueError) as exc:
        return Kept(None, f"{path.name} {main_problem} and its last-good copy too ({_first_line(exc)})")
    if repair:
        with contextlib.suppress(OSError):
            atomic_write_bytes(path, raw, mode=stat.S_IMODE(copy.stat().st_mode))
    return Kept(value, f"{path.name} {main_problem}; recovered from its last-good copy", from_last_good=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__
