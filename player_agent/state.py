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

from player_agent.fsutil import atomic_write_bytes, lock_exclusive, unlock

STATE_FORMAT = 1

NonNegative = Annotated[int, Field(ge=0)]


class StateError(Exception):
    """The persisted state cannot be used or changed as asked."""


class StateCorrupt(StateError):
    """The state file exists but cannot be read: starting blank would re-open replay attacks."""


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

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._lock_path = path.with_name(path.name + ".lock")
        self._state = self._read()

    @property
    def state(self) -> PlayerState:
        return self._state

    def enrol(
        self,
        *,
        screen_id: str,
        broker_url: str,
        broker_username: str,
        broker_password: str,
        pinned_keys: tuple[str, ...],
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
                payload = json.dumps(_to_json_dict(updated), indent=2, sort_keys=True).encode()
                atomic_write_bytes(self.path, payload + b"\n", mode=0o600)
                self._state = updated
                return updated
            finally:
                unlock(fd)

    def _read(self) -> PlayerState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return PlayerState()
        except OSError as exc:
            raise StateCorrupt(f"state file {self.path} cannot be read: {exc.strerror}") from exc
        try:
            return PlayerState.model_validate_json(raw)
        except ValidationError as exc:
            raise StateCorrupt(
                f"state file {self.path} is damaged ({exc.error_count()} problem(s), first: "
                f"{exc.errors()[0]['msg']}); restore it or re-enrol, it is not reset silently"
            ) from exc


def _require_enrolled(state: PlayerState) -> None:
    if not state.enrolled:
        raise NotEnrolled("this player is not enrolled yet (run `signage-player enroll`)")


def _to_json_dict(state: PlayerState) -> dict[str, object]:
    data = state.model_dump(mode="json")
    secret = state.broker_password
    data["broker_password"] = secret.get_secret_value() if secret is not None else None
    return data
