"""The asset cache never serves bytes that do not match their name, and a full disk breaks nothing."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from player_agent.cache import (
    AssetCache,
    AssetMissing,
    CacheError,
    DiskFull,
    HashMismatch,
    peek_status,
)
from player_agent.fsutil import LockedError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_then_read_verified(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    data = b"slide image bytes" * 1000
    path = cache.put_bytes(sha(data), data)
    assert path.name == sha(data)
    assert cache.read_verified(sha(data)) == data
    assert cache.missing([sha(data), sha(b"other")]) == {sha(b"other")}


def test_wrong_bytes_are_never_stored(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    with pytest.raises(HashMismatch, match="arrived with hash"):
        cache.put_bytes(sha(b"expected"), b"tampered")
    assert not cache.has(sha(b"expected"))
    assert not any((tmp_path / "tmp").iterdir())


def test_names_that_are_not_sha256_are_refused(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    for bad in ("../../etc/passwd", "A" * 64, "abc", sha(b"x") + "/"):
        with pytest.raises(ValueError, match="not a sha256"):
            cache.path(bad)


def test_resumed_download_commits_only_when_complete(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    data = os.urandom(300_000)
    digest = sha(data)
    part = cache.partial_path(digest)
    part.write_bytes(data[:100_000])  # the link dropped here
    assert cache.partial_size(digest) == 100_000
    cache.close()
    reopened = AssetCache(tmp_path)  # a restart keeps the partial download
    assert reopened.partial_size(digest) == 100_000
    with part.open("ab") as fh:
        fh.write(data[100_000:])
    reopened.commit_partial(digest)
    assert reopened.read_verified(digest) == data
    assert not part.exists()


def test_bad_download_is_deleted_so_it_starts_over(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    digest = sha(b"the real asset")
    cache.partial_path(digest).write_bytes(b"the real assXX")
    with pytest.raises(HashMismatch):
        cache.commit_partial(digest)
    assert cache.partial_size(digest) == 0
    assert not cache.has(digest)
    with pytest.raises(AssetMissing):
        cache.commit_partial(digest)


def test_corrupted_file_is_discarded_on_read(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    data = b"\x89PNG" + os.urandom(5000)
    digest = sha(data)
    path = cache.put_bytes(digest, data)
    with path.open("r+b") as fh:  # a bit flip on the SD card
        fh.seek(100)
        fh.write(b"\x00\x00")
    with pytest.raises(AssetMissing, match="corrupt"):
        cache.read_verified(digest)
    assert not cache.has(digest)
    assert cache.missing([digest]) == {digest}  # so the fetcher gets it again
    assert "corrupt" in (cache.status().last_error or "")


def test_verify_reports_and_discards_corruption(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    good, bad = b"good asset", b"bad asset"
    cache.put_bytes(sha(good), good)
    cache.put_bytes(sha(bad), bad).write_bytes(b"bad assex")
    assert cache.verify(sha(good))
    assert not cache.verify(sha(bad))
    assert not cache.has(sha(bad))
    assert not cache.verify(sha(b"never stored"))


def test_gc_keeps_current_and_previous_manifest_assets(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path)
    blobs = {name: name.encode() * 100 for name in ("a", "b", "c", "d", "e")}
    for data in blobs.values():
        cache.put_bytes(sha(data), data)
    orphan_partial = sha(b"abandoned download")
    kept_partial = sha(b"download in progress")
    cache.partial_path(orphan_partial).write_bytes(b"aband")
    cache.partial_path(kept_partial).write_bytes(b"downl")
    current = {sha(blobs["a"]), sha(blobs["b"]), kept_partial}
    previous = {sha(blobs["b"]), sha(blobs["c"])}
    report = cache.gc([current, previous])
    assert report.removed == 3  # d, e and the orphan partial
    assert report.freed_bytes == 200 + 5
    for name in ("a", "b", "c"):
        assert cache.read_verified(sha(blobs[name])) == blobs[name]
    assert cache.missing([sha(blobs["d"]), sha(blobs["e"])]) == {sha(blobs["d"]), sha(blobs["e"])}
    assert cache.partial_size(kept_partial) == 5
    assert cache.partial_size(orphan_partial) == 0
    assert cache.status().assets == 3


def test_leftover_temp_files_are_swept_at_start(tmp_path: Path) -> None:
    AssetCache(tmp_path).close()
    (tmp_path / "tmp" / f"{sha(b'x')}.dead").write_bytes(b"half")
    with AssetCache(tmp_path):
        assert not any((tmp_path / "tmp").iterdir())


def test_one_writer_at_a_time_but_status_can_peek(tmp_path: Path) -> None:
    with AssetCache(tmp_path) as cache:
        cache.put_bytes(sha(b"abc"), b"abc")
        cache.partial_path(sha(b"zz")).write_bytes(b"z")
        with pytest.raises(LockedError, match="in use by another process"):
            AssetCache(tmp_path)
        assert peek_status(tmp_path) == cache.status()
        assert peek_status(tmp_path).assets == 1 and peek_status(tmp_path).partial_bytes == 1
    AssetCache(tmp_path).close()  # released on close
    assert peek_status(tmp_path / "never").assets == 0


def test_disk_full_is_reported_and_existing_assets_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = AssetCache(tmp_path)
    old = b"already playing" * 100
    cache.put_bytes(sha(old), old)
    real_write = os.write

    def full_write(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full_write)
    new = b"new asset" * 100
    with pytest.raises(DiskFull, match="disk full"):
        cache.put_bytes(sha(new), new)
    status = cache.status()
    assert status.disk_full and "disk full" in (status.last_error or "")
    monkeypatch.setattr(os, "write", real_write)
    assert cache.read_verified(sha(old)) == old
    assert not cache.has(sha(new))
    assert not any((tmp_path / "tmp").iterdir())
    cache.put_bytes(sha(new), new)
    assert not cache.status().disk_full


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        # Lazy: never leave a mount behind, even if a test kept a file open.
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_real_full_filesystem(tiny_fs: Path) -> None:
    with AssetCache(tiny_fs / "cache") as cache:  # closed before the unmount
        keep = os.urandom(100_000)
        cache.put_bytes(sha(keep), keep)
        too_big = os.urandom(400_000)
        with pytest.raises(DiskFull):
            cache.put_bytes(sha(too_big), too_big)
        assert cache.status().disk_full
        assert cache.read_verified(sha(keep)) == keep
        assert not any((tiny_fs / "cache" / "tmp").iterdir()), "the half-written temp is removed"


def test_append_partial_resumes_and_survives_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(50_000)
    digest = sha(data)
    with AssetCache(tmp_path) as cache:
        assert cache.append_partial(digest, data[:20_000], offset=0) == 20_000
        with pytest.raises(CacheError, match="resumes at byte 20000, chunk given for byte 0"):
            cache.append_partial(digest, data[:20_000], offset=0)
        real_write = os.write

        def half_then_full(fd: int, chunk: bytes | memoryview) -> int:
            monkeypatch.setattr(os, "write", full)
            return real_write(fd, bytes(chunk)[:1000])

        def full(fd: int, chunk: bytes | memoryview) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", half_then_full)
        with pytest.raises(DiskFull):
            cache.append_partial(digest, data[20_000:])
        monkeypatch.setattr(os, "write", real_write)
        assert cache.partial_size(digest) == 20_000, "resume offset stays truthful"
        assert cache.status().disk_full
        cache.append_partial(digest, data[20_000:], offset=20_000)
        cache.commit_partial(digest)
        assert cache.read_verified(digest) == data
        assert not cache.status().disk_full
