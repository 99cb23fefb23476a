"""The manifest signing key in the data dir, and rotation by a hand-over the old key signs."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from signage_core.canonical import canonical_json
from signage_core.fsutil import atomic_write_bytes
from signage_core.signing import (
    Envelope,
    SigningKey,
    load_or_create_private_key,
    load_private_key,
    make_key_handover,
    save_private_key,
)

KEY_FILE = "manifest-signing.pem"
# Players keep trusting the old key this long, so manifests it signed stay valid while re-signing runs.
DEFAULT_GRACE = timedelta(days=1)


def keys_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "keys"


def signing_key_path(data_dir: Path) -> Path:
    return keys_dir(data_dir) / KEY_FILE


class KeyRing:
    """The current signing key, re-read when the file changes (a CLI rotation while the server runs)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._key: SigningKey | None = None

    @property
    def path(self) -> Path:
        return signing_key_path(self.data_dir)

    def current(self) -> SigningKey:
        """The key to sign with now; created (0600) on first use."""
        with self._lock:
            if self._key is None:
                keys_dir(self.data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
                self._key = load_or_create_private_key(self.path)
            else:
                info = self.path.stat()
                if (info.st_ino, info.st_mtime_ns) != self._stamp:
                    self._key = load_private_key(self.path)
            info = self.path.stat()
            self._stamp = (info.st_ino, info.st_mtime_ns)
            return self._key

    def handovers(self) -> list[Envelope]:
        """Every hand-over issued, oldest first: players that missed some apply them in order."""
        folder = keys_dir(self.data_dir) / "handovers"
        if not folder.is_dir():
            return []
        return [Envelope.model_validate_json(p.read_bytes()) for p in sorted(folder.glob("*.json"))]


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    handover: Envelope
    handover_path: Path


def rotate_key(data_dir: Path, *, now: datetime, grace: timedelta | None = DEFAULT_GRACE) -> Rotation:
    """New key, hand-over signed by the old one, old key kept under retired/; each step atomic."""
    folder = keys_dir(data_dir)
    current = signing_key_path(data_dir)
    if not current.exists():
        raise FileNotFoundError(f"no signing key at {current}; the server creates it on first run")
    old = load_private_key(current)
    new = SigningKey.generate()
    handover = make_key_handover(old, new.public_key, issued_at=now,
                                 old_key_valid_until=None if grace is None else now + grace)
    (folder / "handovers").mkdir(parents=True, exist_ok=True, mode=0o700)
    sequence = len(list((folder / "handovers").glob("*.json"))) + 1
    handover_path = folder / "handovers" / f"{sequence:04d}-{old.key_id}.json"
    # Hand-over and retired copy first: a crash before the final rename leaves the old key in use.
    atomic_write_bytes(handover_path, canonical_json(handover.model_dump(mode="json")), mode=0o644)
    save_private_key(old, folder / "retired" / f"{old.key_id}.pem", overwrite=True)
    save_private_key(new, current, overwrite=True)
    return Rotation(old.key_id, new.key_id, handover, handover_path)
