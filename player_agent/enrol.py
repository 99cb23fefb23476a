"""Enrolment: trade a one-time code for broker credentials and the server key to pin, over plain HTTP(S)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from player_agent.fsutil import Kept, read_kept, write_kept
from player_agent.state import PlayerState, StateStore
from signage_core.canonical import canonical_json, loads_strict
from signage_core.protocol import ProtocolError, check_id, parse_broker_url
from signage_core.signing import PublicKey, TrustStore

ENROL_PATH = "/api/v1/enrol"
IDENTITY_FILE = "identity.json"
TRUST_FILE = "trust.json"


class EnrolmentError(Exception):
    """The server refused the code (or could not be asked); `code` is the server's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EnrolAnswer(BaseModel):
    """The server's 200 answer to POST /api/v1/enrol."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    screen_id: str = Field(min_length=1)
    broker_url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)
    server_public_key: str = Field(min_length=1)
    key_id: str = Field(min_length=1)
    fingerprint: str = Field(min_length=1)
    groups: tuple[str, ...] = ()
    server_time: AwareDatetime


class Identity(BaseModel):
    """What enrolment told us besides credentials: groups to follow, the key's fingerprint, clock offset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    screen_id: str
    name: str
    groups: tuple[str, ...] = ()
    fingerprint: str
    key_id: str
    clock_offset_s: float | None = None  # player clock minus server clock at the last measurement


def load_identity(state_dir: Path) -> Identity | None:
    """The identity file or its last-good copy; None before enrolment or when both are unusable."""
    return read_identity(state_dir).value


def read_identity(state_dir: Path, *, repair: bool = False) -> Kept[Identity]:
    """The identity and what was wrong with its file (for status and the heartbeat)."""
    return read_kept(state_dir / IDENTITY_FILE, Identity.model_validate_json, repair=repair)


def save_identity(state_dir: Path, identity: Identity) -> None:
    """Both copies, atomically, so a power cut or a bad sector keeps a whole identity."""
    write_kept(state_dir / IDENTITY_FILE, identity.model_dump_json(indent=2).encode() + b"\n", mode=0o600)


def rebuild_identity(state: PlayerState) -> Identity:
    """The identity from the enrolment data state.json keeps too (groups, pinned key): alerts keep arriving."""
    if state.screen_id is None or not state.pinned_keys:
        raise ValueError("state.json holds no enrolment to rebuild the identity from")
    key = PublicKey.from_base64(state.pinned_keys[0])
    return Identity(screen_id=state.screen_id, name=state.screen_id, groups=state.groups or (),
                    fingerprint=key.fingerprint, key_id=key.key_id)


def rebuild_state(state_dir: Path) -> PlayerState | None:
    """state.json and its copy both unusable: who we are from identity.json, whom we trust from trust.json."""
    identity, trust = read_identity(state_dir).value, read_trust(state_dir).value
    if identity is None or trust is None or not trust.keys:
        return None
    return PlayerState(screen_id=identity.screen_id, groups=identity.groups,
                       pinned_keys=tuple(k.public_key for k in trust.keys.values()))


def read_trust(state_dir: Path, *, repair: bool = False) -> Kept[TrustStore]:
    """trust.json or its last-good copy, and what was wrong with it."""
    return read_kept(state_dir / TRUST_FILE, lambda raw: TrustStore.model_validate(loads_strict(raw)), repair=repair)


def save_trust(state_dir: Path, trust: TrustStore) -> None:
    """Both copies, atomically: a damaged trust file must not leave the player trusting nothing."""
    write_kept(state_dir / TRUST_FILE, canonical_json(trust), mode=0o600)


def request_enrolment(server: str, code: str, *, agent_version: str, timeout_s: float = 20.0) -> EnrolAnswer:
    """POST the code; a refusal raises EnrolmentError carrying the server's code and message."""
    if not server.startswith(("http://", "https://")):
        raise EnrolmentError("bad_server_url", f"server URL {server!r} must start with http:// or https://")
    if not code.strip():
        raise EnrolmentError("enrolment_code_invalid", "the enrolment code is empty")
    url = server.rstrip("/") + ENROL_PATH
    body = json.dumps({"code": code.strip(), "agent_version": agent_version}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="POST", headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - scheme checked above
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise _refusal(exc.code, exc.read()) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EnrolmentError("unreachable", f"cannot reach {url}: {reason}") from exc
    try:
        return EnrolAnswer.model_validate_json(raw)
    except ValidationError as exc:
        raise EnrolmentError("bad_answer", f"the server's answer is not an enrolment: {exc.errors()[0]['msg']}") from exc


def _refusal(status: int, raw: bytes) -> EnrolmentError:
    try:
        error = json.loads(raw)["error"]
        return EnrolmentError(str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return EnrolmentError(f"http_{status}", f"the server answered HTTP {status}")


def apply_enrolment(state_dir: Path, answer: EnrolAnswer, *, now: datetime) -> Identity:
    """Check the answer, then pin the key and store credentials and identity; nothing is written if it is bad."""
    try:
        key = PublicKey.from_base64(answer.server_public_key)
        check_id(answer.screen_id)
        parse_broker_url(answer.broker_url)
        groups = tuple(check_id(g, what="group") for g in answer.groups)
    except (ValueError, ProtocolError) as exc:
        raise EnrolmentError("bad_answer", f"the server's answer is unusable: {exc}") from exc
    if key.key_id != answer.key_id or key.fingerprint != answer.fingerprint:
        raise EnrolmentError(
            "bad_answer", "the server's key does not match the key id / fingerprint it announced"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    # Re-enrolling is the cure for a state file damaged beyond its copy: rebuild what can be, else start clean.
    store = StateStore(state_dir / "state.json", rebuild=lambda: rebuild_state(state_dir) or PlayerState())
    store.enrol(
        screen_id=answer.screen_id,
        broker_url=answer.broker_url,
        broker_username=answer.username,
        broker_password=answer.password,
        pinned_keys=(key.base64,),
        groups=groups,
    )
    save_trust(state_dir, TrustStore.of(key))
    identity = Identity(
        screen_id=answer.screen_id,
        name=answer.screen_id,
        groups=groups,
        fingerprint=key.fingerprint,
        key_id=key.key_id,
        clock_offset_s=(now - answer.server_time).total_seconds(),
    )
    save_identity(state_dir, identity)
    return identity
