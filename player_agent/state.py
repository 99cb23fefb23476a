"""What the player must remember across power cuts: who it is, whom it trusts, what it already accepted.

The version and sequence counters only move forward, so a replayed old manifest, alert or
command is refused even after a reboot.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from player_agent.fsutil import (
    DAMAGED_SUFFIX,
    last_good_path,
    lock_exclusive,
    read_kept,
    unlock,
    write_kept,
)

STATE_FORMAT = 1

NonNegative = Annotated[int, Field(ge=0)]


class StateError(Exception):
    """The persisted state cannot be used or changed as asked."""


class StateCorrupt(StateError):
    """The state file exists but cannot be read: starting blank would re-open replay attacks."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class NotEnrolled(StateError):
    """An operation needs an enrolled screen and this player has none yet."""


class StaleUpdate(StateError):
    """A version or sequence number that is not newer than the one already accepted."""


class PlayerState(BaseModel):
    """The persisted record; the file holds exactly this model as JSON (credentials included, mode 0600)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = STATE_FORMAT
    screen_id: str | None = None
    broker_url: str | None = None
    broker_username: str | None = None
    broker_password: SecretStr | None = None
    # The server's Ed25519 public keys as signing.py encodes them (opaque here); several allow rotation.
    pinned_keys: tuple[str, ...] = ()
    manifest_version: NonNegative = 0
    alert_seq: NonNegative = 0
    command_seq: NonNegative = 0
    # The enrolment answer's groups, kept here as well as in identity.json: a damaged identity is
    # rebuilt from this, so urgent alerts to the screen's groups keep arriving. None: enrolled
    # before this copy was kept.
    groups: tuple[str, ...] | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != STATE_FORMAT:
            raise ValueError(f"state format {value} is not supported (expected {STATE_FORMAT})")
        return value

    @field_validator("pinned_keys")
    @classmethod
    def _real_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not key.strip() for key in value):
            raise ValueError("a pinned key is empty")
        return tuple(dict.fromkeys(value))

    @property
    def enrolled(self) -> bool:
        return self.screen_id is not None


class StateStore:
    """Reads and changes the state file under a lock; every change is durable when the call returns."""

    def __init__(self, path: Path, *, rebuild: Callable[[], PlayerState | None] | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._lock_path = path.with_name(path.name + ".lock")
        # What was wrong with the file when it was last read (recovered from its last-good copy).
        self.problem: str | None = None
        self._from_copy = False  # the file itself is damaged or missing: keep() rewrites it
        try:
            self._state = self._read()
        except StateCorrupt as exc:
            # Both copies unusable: the running player rebuilds what it can rather than go dark.
            rebuilt = rebuild() if rebuild is not None else None
            if rebuilt is None:
                raise
            self.rebuild(rebuilt, f"{exc.reason}; rebuilt from identity.json and trust.json without broker "
                                  "credentials (offline until `signage-player enroll` is run again)")

    @property
    def state(self) -> PlayerState:
        return self._state

    def keep(self) -> PlayerState:
        """Rewrite both copies from the state in hand: repairs a damaged file, creates a missing last-good copy."""
        if self._from_copy and self.path.exists():
            # Kept for a technician (what did the disk do?); the copy is read instead meanwhile.
            self.path.replace(self.path.with_name(self.path.name + DAMAGED_SUFFIX))
        return self._update(lambda current: current)

    def needs_keep(self) -> bool:
        """True when the file or its last-good copy is missing or was damaged."""
        return self._state.enrolled and (self._from_copy or not last_good_path(self.path).exists())

    def rebuild(self, state: PlayerState, problem: str) -> PlayerState:
        """Replace a state beyond repair with what could be rebuilt; the damaged file is kept for a technician."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = lock_exclusive(self._lock_path, f"state file {self.path}", wait=True)
            try:
                if self.path.exists():
                    self.path.replace(self.path.with_name(self.path.name + DAMAGED_SUFFIX))
                self._write(state)
                self.problem = problem
                return state
            finally:
                unlock(fd)

    def enrol(
        self,
        *,
        screen_id: str,
        broker_url: str,
        broker_username: str,
        broker_password: str,
        pinned_keys: tuple[str, ...],
        groups: tuple[str, ...] | None = None,
    ) -> PlayerState:
        """Record the enrolment answer; counters restart only when the screen identity changes."""
        if not screen_id.strip():
            raise StateError("screen_id is empty")
        if not pinned_keys:
            raise StateError("enrolment must pin at least one server public key")

        def change(current: PlayerState) -> PlayerState:
            same_screen = current.screen_id == screen_id
            return PlayerState(
                screen_id=screen_id,
                broker_url=broker_url,
                broker_username=broker_username,
                broker_password=SecretStr(broker_password),
                pinned_keys=tuple(pinned_keys),
                manifest_version=current.manifest_version if same_screen else 0,
                alert_seq=current.alert_seq if same_screen else 0,
                command_seq=current.command_seq if same_screen else 0,
                groups=tuple(groups) if groups is not None else None,
            )

        return self._update(change)

    def pin_keys(self, keys: tuple[str, ...]) -> PlayerState:
        """Replace the trusted keys (rotation arrives signed by an already pinned key)."""
        if not keys:
            raise StateError("refusing to pin an empty key set: nothing could be verified")

        def change(current: PlayerState) -> PlayerState:
            _require_enrolled(current)
            return current.model_copy(update={"pinned_keys": tuple(keys)})

        return self._update(change)

    def keep_groups(self, groups: tuple[str, ...]) -> PlayerState:
        """Keep the identity's alert groups here too (players enrolled before they were kept twice)."""
        return self._update(lambda current: current.model_copy(update={"groups": tuple(groups)}))

    def accept_manifest(self, version: int) -> PlayerState:
        """Persist a newly accepted manifest version; an equal or older one is a replay."""
        return self._advance("manifest_version", version, "manifest version")

    def accept_alert(self, seq: int) -> PlayerState:
        """Persist an accepted urgent alert sequence number."""
        return self._advance("alert_seq", seq, "alert sequence")

    def accept_command(self, seq: int) -> PlayerState:
        """Persist an accepted command sequence number."""
        return self._advance("command_seq", seq, "command sequence")

    def reload(self) -> PlayerState:
        """Re-read the file (another process, e.g. `enroll`, may have changed it)."""
        with self._lock:
            self._state = self._read()
            return self._state

    def _advance(self, field: str, value: int, label: str) -> PlayerState:
        if isinstance(value, bool) or not isinstance(value, int):
            raise StateError(f"{label} must be an integer, got {value!r}")

        def change(current: PlayerState) -> PlayerState:
            _require_enrolled(current)
            accepted = getattr(current, field)
            if value <= accepted:
                raise StaleUpdate(f"{label} {value} is not newer than the accepted {accepted}")
            return current.model_copy(update={field: value})

        return self._update(change)

    def _update(self, change: Callable[[PlayerState], PlayerState]) -> PlayerState:
        # Read-modify-write under an flock, so `enroll` in a shell and the running player
        # never overwrite each other's change with a stale copy.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = lock_exclusive(self._lock_path, f"state file {self.path}", wait=True)
            try:
                # A write cut by a crash leaves its temp file; the real file is still the old one.
                for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                    leftover.unlink(missing_ok=True)
                current = self._read()
                self._state = current
                # Validate again: model_copy(update=...) skips validation.
                try:
                    updated = PlayerState.model_validate(_to_json_dict(change(current)))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"])
                    raise StateError(f"refusing to store state: {where}: {first['msg']}") from exc
                self._write(updated)
                return updated
            finally:
                unlock(fd)

    def _write(self, state: PlayerState) -> None:
        payload = json.dumps(_to_json_dict(state), indent=2, sort_keys=True).encode()
        write_kept(self.path, payload + b"\n", mode=0o600)
        self._state = state
        self.problem = None
        self._from_copy = False

    def _read(self) -> PlayerState:
        """The file, else its last-good copy (noted in `problem`); neither usable is StateCorrupt, never a blank state."""
        kept = read_kept(self.path, PlayerState.model_validate_json)
        if kept.value is None:
            if kept.problem is None:
                return PlayerState()
            raise StateCorrupt(f"state file {self.path}: {kept.problem}; it is not reset silently", kept.problem)
        if kept.problem is not None:
            self.problem = kept.problem
            self._from_copy = kept.from_last_good
        return kept.value


def _require_enrolled(state: PlayerState) -> None:
    if not state.enrolled:
        raise NotEnrolled("this player is not enrolled yet (run `signage-player enroll`)")


def _to_json_dict(state: PlayerState) -> dict[str, object]:
    data = state.model_dump(mode="json")
    secret = state.broker_password
    data["broker_password"] = secret.get_secret_value() if secret is not None else None
    return data
