"""Durable file writes shared by state, cache, journal and outputs: a power cut leaves old or new, never half."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path

# Re-exported: the player's modules import every durable-write helper from here.
from signage_core.fsutil import atomic_write_bytes as atomic_write_bytes
from signage_core.fsutil import fsync_dir as fsync_dir


def temp_sibling(path: Path, suffix: str = ".tmp") -> Path:
    """A unique name beside `path` so the final rename stays on one filesystem (atomic)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")


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
