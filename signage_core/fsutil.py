"""Atomic file writes for server and player: a power cut leaves the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` survive a power cut (the entry lives in the dir)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600, overwrite: bool = True) -> None:
    """Temp file beside `path` (mode set before any byte lands), fsync, rename, fsync the folder.

    With overwrite=False an existing file is never replaced (FileExistsError instead).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if another process created it first
            tmp.unlink()
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def read_toml(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """A configuration file's table; unreadable or malformed, `error` says which file and why."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
