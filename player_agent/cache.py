"""Content-addressed asset cache: a file under its final name always has the bytes its name promises.

Layout under the root: `objects/ab/<sha256>` (complete, verified), `partial/<sha256>.part`
(resumable downloads the fetcher appends to), `tmp/` (in-flight writes, swept at start).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from player_agent.fsutil import fsync_dir, lock_exclusive, unlock, write_all

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class CacheError(Exception):
    """An asset could not be stored or read."""


class DiskFull(CacheError):
    """ENOSPC while writing: nothing existing was touched, the new asset was not stored."""


class HashMismatch(CacheError):
    """The bytes do not hash to the name they were stored under; they were discarded."""


class AssetMissing(CacheError):
    """The asset is not in the cache (never fetched, or discarded as corrupt): fetch it again."""


@dataclass(frozen=True)
class CacheStatus:
    """What `status` and the heartbeat report about the cache."""

    assets: int
    bytes: int
    partial_bytes: int
    disk_full: bool
    last_error: str | None


@dataclass(frozen=True)
class GcReport:
    removed: int
    freed_bytes: int


def check_sha(sha: str) -> str:
    """Reject anything but a lowercase sha256 so a name can never escape the cache directory."""
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise ValueError(f"not a sha256 hex digest: {sha!r}")
    return sha


class AssetCache:
    """Stores assets under their sha256; corrupt or partial data is never served."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._objects = root / "objects"
        self._partial = root / "partial"
        self._tmp = root / "tmp"
        for d in (root, self._objects, self._partial, self._tmp):
            d.mkdir(parents=True, exist_ok=True)
        # One writer: a second opener would sweep the temp files the first is still writing.
        self._flock = lock_exclusive(root / "lock", f"asset cache {root}")
        self.disk_full = False
        self.last_error: str | None = None
        self._sweep_tmp()

    def close(self) -> None:
        """Release the cache for another process (tests, `clear cache` from the CLI)."""
        unlock(self._flock)

    def __enter__(self) -> AssetCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- names ---------------------------------------------------------------------------
    def path(self, sha: str) -> Path:
        """Where a complete asset lives; it exists only once verified."""
        check_sha(sha)
        return self._objects / sha[:2] / sha

    def partial_path(self, sha: str) -> Path:
        """Where the fetcher appends a download so it can resume after a broken link."""
        check_sha(sha)
        return self._partial / f"{sha}.part"

    def partial_size(self, sha: str) -> int:
        """How many bytes of a download survive, i.e. the offset to resume from."""
        try:
            return self.partial_path(sha).stat().st_size
        except FileNotFoundError:
            return 0

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def missing(self, shas: Iterable[str]) -> set[str]:
        """Which of a manifest's assets still need fetching."""
        return {sha for sha in shas if not self.has(sha)}

    # -- writes --------------------------------------------------------------------------
    def put_bytes(self, sha: str, data: bytes) -> Path:
        """Store an asset already in memory."""
        return self.put_chunks(sha, [data])

    def put_chunks(self, sha: str, chunks: Iterable[bytes]) -> Path:
        """Stream an asset to a temp file, fsync, check its hash, then rename it into place."""
        final = self.path(sha)
        if final.is_file():
            return final
        tmp = self._tmp / f"{sha}.{secrets.token_hex(4)}"
        digest = hashlib.sha256()
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                for chunk in chunks:
                    digest.update(chunk)
                    write_all(fd, chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._check_digest(sha, digest.hexdigest(), tmp)
            self._install(tmp, final)
        except OSError as exc:
            self._discard(tmp)
            raise self._io_error(f"storing asset {sha}", exc) from exc
        except BaseException:
            self._discard(tmp)
            raise
        self._stored()
        return final

    def append_partial(self, sha: str, data: bytes, *, offset: int | None = None) -> int:
        """Append a downloaded chunk (optionally checking it starts at `offset`); returns the new size.

        On ENOSPC the file is cut back to where it was, so the resume offset stays truthful.
        """
        part = self.partial_path(sha)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if offset is not None and offset != size:
                raise CacheError(
                    f"download of asset {sha} resumes at byte {size}, chunk given for byte {offset}"
                )
            try:
                os.lseek(fd, size, os.SEEK_SET)
                write_all(fd, data)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise self._io_error(f"downloading asset {sha}", exc) from exc
            return size + len(data)
        finally:
            os.close(fd)

    def commit_partial(self, sha: str) -> Path:
        """Finish a resumable download: fsync, verify, rename; a bad download is deleted."""
        part = self.partial_path(sha)
        final = self.path(sha)
        if not part.exists():
            if final.is_file():
                return final
            raise AssetMissing(f"no partial download for asset {sha}")
        try:
            digest = _hash_file(part, fsync=True)
            self._check_digest(sha, digest, part)
            self._install(part, final)
        except OSError as exc:
            raise self._io_error(f"committing download of asset {sha}", exc) from exc
        self._stored()
        return final

    def _install(self, src: Path, final: Path) -> None:
        final.parent.mkdir(exist_ok=True)
        os.replace(src, final)
        fsync_dir(final.parent)
        fsync_dir(src.parent)

    def _check_digest(self, sha: str, actual: str, src: Path) -> None:
        if actual != sha:
            self._discard(src)
            self.last_error = f"asset {sha} arrived with hash {actual}; discarded"
            raise HashMismatch(self.last_error)

    def _stored(self) -> None:
        # A write that succeeded proves there is room again.
        self.disk_full = False
        self.last_error = None

    def _io_error(self, what: str, exc: OSError) -> CacheError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            self.disk_full = True
            self.last_error = f"disk full while {what}; existing assets are untouched"
            log.error("%s", self.last_error)
            return DiskFull(self.last_error)
        self.last_error = f"I/O error while {what}: {exc.strerror or exc}"
        log.error("%s", self.last_error)
        return CacheError(self.last_error)

    # -- reads ---------------------------------------------------------------------------
    def read_verified(self, sha: str) -> bytes:
        """The asset's bytes, hash-checked as read; a corrupt file is deleted so it is fetched again."""
        final = self.path(sha)
        try:
            data = final.read_bytes()
        except FileNotFoundError:
            raise AssetMissing(f"asset {sha} is not in the cache") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            self._discard_corrupt(sha, final, actual)
        return data

    def verify(self, sha: str) -> bool:
        """True when the stored file still hashes to its name; otherwise it is discarded."""
        final = self.path(sha)
        try:
            actual = _hash_file(final, fsync=False)
        except FileNotFoundError:
            return False
        if actual != sha:
            with contextlib.suppress(AssetMissing):
                self._discard_corrupt(sha, final, actual)
            return False
        return True

    def _discard_corrupt(self, sha: str, final: Path, actual: str) -> None:
        self._discard(final)
        self.last_error = f"asset {sha} was corrupt on disk (hash {actual}); discarded"
        log.warning("%s", self.last_error)
        raise AssetMissing(self.last_error)

    # -- housekeeping --------------------------------------------------------------------
    def gc(self, keep: Iterable[Iterable[str]]) -> GcReport:
        """Delete every asset and partial download not referenced by the given sets (current + previous)."""
        wanted = {check_sha(sha) for group in keep for sha in group}
        removed = 0
        freed = 0
        for bucket in self._objects.iterdir():
            if not bucket.is_dir():
                continue
            for entry in bucket.iterdir():
                if entry.name not in wanted:
                    freed += _size(entry)
                    self._discard(entry)
                    removed += 1
        for entry in self._partial.iterdir():
            if entry.name.removesuffix(".part") not in wanted:
                freed += _size(entry)
                self._discard(entry)
                removed += 1
        fsync_dir(self._objects)
        if removed:
            log.info("cache gc removed %d file(s), %d bytes", removed, freed)
        return GcReport(removed=removed, freed_bytes=freed)

    def status(self) -> CacheStatus:
        return peek_status(self.root, disk_full=self.disk_full, last_error=self.last_error)

    def clear(self) -> None:
        """The server's `clear cache` command: drop everything, assets are fetched again."""
        self.gc(keep=())

    def _sweep_tmp(self) -> None:
        # Leftovers of writes cut by a crash or power loss; they never had a final name.
        for entry in self._tmp.iterdir():
            self._discard(entry)

    @staticmethod
    def _discard(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def peek_status(
    root: Path, *, disk_full: bool = False, last_error: str | None = None
) -> CacheStatus:
    """Count assets without taking the cache (for `status` while the player runs)."""
    assets = 0
    total = 0
    partial = 0
    with contextlib.suppress(FileNotFoundError):
        for bucket in (root / "objects").iterdir():
            if bucket.is_dir():
                for entry in bucket.iterdir():
                    assets += 1
                    total += _size(entry)
    with contextlib.suppress(FileNotFoundError):
        partial = sum(_size(e) for e in (root / "partial").iterdir())
    return CacheStatus(
        assets=assets,
        bytes=total,
        partial_bytes=partial,
        disk_full=disk_full,
        last_error=last_error,
    )


def _hash_file(path: Path, *, fsync: bool) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
        if fsync:
            # The fetcher appended without fsync; make the bytes durable before the rename.
            os.fsync(fh.fileno())
    return digest.hexdigest()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
