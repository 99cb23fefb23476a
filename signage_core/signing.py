"""Ed25519 signed envelopes: a screen shows only what the server's key approved, nothing injected."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from signage_core.canonical import CanonicalError, canonical_json, canonical_scalar, loads_strict
from signage_core.fsutil import atomic_write_bytes

# Domain separation: these signatures can never be replayed as signatures over anything else.
SIGNING_CONTEXT = b"border-gate-signage/envelope/v1\n"
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
_SIGNATURE_BYTES = 64
_PUBLIC_KEY_BYTES = 32
ModelT = TypeVar("ModelT", bound=BaseModel)


class EnvelopeKind(StrEnum):
    MANIFEST = "manifest"
    ALERT = "alert"
    COMMAND = "command"
    KEY_HANDOVER = "key_handover"
    FEED = "feed"  # a data-feed reading for the information strip (signage_core.feeds)


class Rejection(StrEnum):
    """Why an envelope was refused; each reason is distinct so logs and alarms can tell them apart."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_KIND = "wrong_kind"
    WRONG_SCREEN = "wrong_screen"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    STALE_VERSION = "stale_version"


class VerificationError(Exception):
    """An envelope the player must not act on, with the reason and what exactly was wrong."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key as the player stores it: 32 raw bytes."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != _PUBLIC_KEY_BYTES:
            raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(self.raw)}")

    @classmethod
    def from_base64(cls, text: str) -> PublicKey:
        """Read the form used in trust stores, handovers and config files."""
        return cls(_b64decode(text, "public key"))

    @property
    def base64(self) -> str:
        return _b64encode(self.raw)

    @property
    def key_id(self) -> str:
        """Short id envelopes carry so the player picks the right key (not a security boundary)."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the key in groups of four, for people comparing screen and CLI by eye."""
        digest = hashlib.sha256(self.raw).hexdigest().upper()
        return "SHA256:" + " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True only when `signature` is this key's signature over `data`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True


class SigningKey:
    """The server's Ed25519 private key; never leaves the data dir except as a 0600 PEM file."""

    __slots__ = ("_key_id", "_private", "_public")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        # Derived once: every manifest of a compile names the key id, and the unchanged check compares it.
        self._public = PublicKey(
            private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        self._key_id = self._public.key_id

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """Load an unencrypted PKCS#8 PEM, refusing any key that is not Ed25519."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
        return cls(key)

    def to_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> PublicKey:
        return self._public

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"  # never print key material


def save_private_key(key: SigningKey, path: Path, *, overwrite: bool = False) -> None:
    """Store the key as PEM, mode 0600, atomically; refuses to replace an existing key by default."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_bytes(path, key.to_pem(), mode=0o600, overwrite=overwrite)


def load_private_key(path: Path) -> SigningKey:
    """Read the PEM, refusing a file that group or others can read (it may already be leaked)."""
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"private key {path} has mode {mode:04o}; it must be readable by its owner only (chmod 600)"
        )
    return SigningKey.from_pem(path.read_bytes())


def load_or_create_private_key(path: Path) -> SigningKey:
    """First run creates the key; later runs (or a concurrent first run) load the same one."""
    path = Path(path)
    if not path.exists():
        try:
            save_private_key(SigningKey.generate(), path, overwrite=False)
        except FileExistsError:
            pass  # another process won the race; use its key
    return load_private_key(path)


class Envelope(BaseModel):
    """The wire form of every signed message: manifests, alerts, commands, key handovers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(min_length=1)
    body: dict[str, JsonValue]
    key_id: str = Field(min_length=1)
    signature: str = Field(min_length=1)

    def to_json(self) -> bytes:
        """Canonical bytes to publish (any JSON encoding verifies; canonical keeps it stable)."""
        return _wire(self.kind, self.key_id, canonical_json(self.body), self.signature)


def _wire(kind: str, key_id: str, body_json: bytes, signature: str) -> bytes:
    """canonical_json of the whole envelope, assembled around the body's canonical bytes."""
    return _signed_object(kind, key_id, body_json)[:-1] + b',"signature":' + canonical_json(signature) + b"}"


def _signed_object(kind: str, key_id: str, body_json: bytes) -> bytes:
    """canonical_json({"body", "key_id", "kind"}) assembled from the body's canonical bytes."""
    # Keys in sorted order; the body is already canonical, so it is not lowered a second time.
    return (
        b'{"body":' + body_json + b',"key_id":' + canonical_scalar(key_id)
        + b',"kind":' + canonical_scalar(kind) + b"}"
    )


def signed_bytes(kind: str, key_id: str, body: Mapping[str, object]) -> bytes:
    """Exactly what is signed: context + canonical JSON of kind, key_id and body together."""
    return SIGNING_CONTEXT + _signed_object(kind, key_id, canonical_json(body))


def sign_envelope(kind: EnvelopeKind, body: BaseModel | Mapping[str, object], key: SigningKey) -> Envelope:
    """Sign a body (a model or a mapping of JSON values) as an envelope of this kind."""
    body_json = canonical_json(body)
    plain = json.loads(body_json)  # our own canonical output: no need for the strict parser
    if not isinstance(plain, dict):
        raise ValueError(f"envelope body must be a JSON object, got {type(plain).__name__}")
    signature = key.sign(SIGNING_CONTEXT + _signed_object(kind.value, key.key_id, body_json))
    # Built from canonical JSON we just produced, so field validation would only cost time.
    return Envelope.model_construct(
        kind=kind.value, body=plain, key_id=key.key_id, signature=_b64encode(signature)
    )


def sign_canonical_body(kind: EnvelopeKind, body_json: bytes, key: SigningKey) -> bytes:
    """Envelope wire bytes for a body the caller already holds as canonical JSON of an object.

    Signs exactly those bytes, without parsing or re-encoding them: the manifest compiler splices
    one shared body per screen. Bytes that are not canonical would fail every verifier, which
    re-encodes the body it parsed; the tests check the splice against canonical_json.
    """
    if not body_json.startswith(b"{") or not body_json.endswith(b"}"):
        raise ValueError("envelope body must be canonical JSON of an object")
    signature = key.sign(SIGNING_CONTEXT + _signed_object(kind.value, key.key_id, body_json))
    return _wire(kind.value, key.key_id, body_json, _b64encode(signature))


class EnvelopeHeader(BaseModel):
    """Fields every screen-bound body carries so the player can refuse replays and strays."""

    model_config = ConfigDict(extra="ignore")

    # Exactly one of these: a manifest or command names its screen, an urgent alert (published
    # once on group topics) lists every screen it was launched on.
    screen_id: str | None = Field(default=None, min_length=1)
    screen_ids: tuple[str, ...] | None = Field(default=None, min_length=1)
    version: int = Field(ge=1)
    issued_at: datetime
    expires_at: datetime

    @model_validator(mode="after")
    def _one_target(self) -> EnvelopeHeader:
        if (self.screen_id is None) == (self.screen_ids is None):
            raise ValueError("exactly one of screen_id and screen_ids must be given")
        return self

    def addresses(self, screen_id: str) -> bool:
        """Whether this envelope is meant for the given screen."""
        if self.screen_ids is not None:
            return screen_id in self.screen_ids
        return self.screen_id == screen_id

    def target_label(self) -> str:
        if self.screen_ids is not None:
            return f"screens {', '.join(self.screen_ids)}"
        return f"screen {self.screen_id!r}"


@dataclass(frozen=True, slots=True)
class VerifiedEnvelope:
    """An envelope whose signature, kind, target, validity window and version all checked out."""

    envelope: Envelope
    header: EnvelopeHeader

    @property
    def body(self) -> dict[str, JsonValue]:
        return self.envelope.body


def _require_aware(value: datetime | None, name: str) -> datetime | None:
    """Instants compared against the player's clock must carry a timezone."""
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must carry a timezone, got {value.isoformat()}")
    return value


class TrustedKey(BaseModel):
    """A public key the player accepts, until `not_after` when it is being rotated out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    public_key: str
    not_after: datetime | None = None

    @field_validator("not_after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _require_aware(value, "not_after")

    def key(self) -> PublicKey:
        return PublicKey.from_base64(self.public_key)


class KeyHandover(BaseModel):
    """Body of a handover envelope: the old key vouches for the new one; only path to a new key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    old_key_id: str = Field(min_length=1)
    new_public_key: str
    issued_at: datetime
    # Grace for envelopes already signed by the old key; None retires it at once.
    old_key_valid_until: datetime | None = None

    @field_validator("issued_at", "old_key_valid_until")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return _require_aware(value, info.field_name or "datetime")

    @property
    def new_key_id(self) -> str:
        return PublicKey.from_base64(self.new_public_key).key_id


def make_key_handover(
    old: SigningKey, new: PublicKey, *, issued_at: datetime, old_key_valid_until: datetime | None
) -> Envelope:
    """Server side of rotation: sign the new public key with the old private key."""
    body = KeyHandover(
        old_key_id=old.key_id,
        new_public_key=new.base64,
        issued_at=issued_at,
        old_key_valid_until=old_key_valid_until,
    )
    return sign_envelope(EnvelopeKind.KEY_HANDOVER, body, old)


def _parse(raw: bytes | str | Envelope) -> Envelope:
    if isinstance(raw, Envelope):
        return raw
    try:
        return Envelope.model_validate(loads_strict(raw))
    except (CanonicalError, ValidationError) as exc:
        raise VerificationError(Rejection.MALFORMED, f"not a signed envelope: {exc}") from exc


class TrustStore(BaseModel):
    """The keys a player trusts (by key id) and those it has seen retired; persisted by the player."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: dict[str, TrustedKey]
    # A key that handed over never hands over again and is never re-trusted (replayed handovers).
    retired: tuple[str, ...] = ()

    @classmethod
    def of(cls, *public_keys: PublicKey) -> TrustStore:
        """Trust store provisioned at install time with the server's current public key(s)."""
        return cls(keys={k.key_id: TrustedKey(public_key=k.base64) for k in public_keys})

    def lookup(self, key_id: str, now: datetime) -> PublicKey:
        """The key for `key_id` if it is trusted at `now`."""
        trusted = self.keys.get(key_id)
        if trusted is None:
            raise VerificationError(Rejection.UNKNOWN_KEY, f"key {key_id!r} is not trusted by this player")
        if trusted.not_after is not None and now >= trusted.not_after:
            raise VerificationError(
                Rejection.UNKNOWN_KEY, f"key {key_id!r} was rotated out at {trusted.not_after.isoformat()}"
            )
        return trusted.key()

    def open(self, raw: bytes | str | Envelope, *, expected_kind: EnvelopeKind, now: datetime) -> Envelope:
        """Check structure, key and signature, then kind; nothing unsigned is interpreted before that."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        envelope = _parse(raw)
        try:
            signature = _b64decode(envelope.signature, "signature")
        except ValueError as exc:
            raise VerificationError(Rejection.MALFORMED, str(exc)) from exc
        if len(signature) != _SIGNATURE_BYTES:
            raise VerificationError(
                Rejection.MALFORMED, f"signature is {len(signature)} bytes, Ed25519 uses 64"
            )
        key = self.lookup(envelope.key_id, now)
        if not key.verify(signature, signed_bytes(envelope.kind, envelope.key_id, envelope.body)):
            raise VerificationError(
                Rejection.BAD_SIGNATURE, f"signature does not match content for key {envelope.key_id!r}"
            )
        if envelope.kind != expected_kind.value:
            raise VerificationError(
                Rejection.WRONG_KIND, f"expected a {expected_kind.value!r}, got {envelope.kind!r}"
            )
        return envelope

    def accept_handover(
        self, raw: bytes | str | Envelope, *, now: datetime, max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW
    ) -> TrustStore:
        """A new store trusting the handed-over key; the old key keeps only its grace period."""
        envelope = self.open(raw, expected_kind=EnvelopeKind.KEY_HANDOVER, now=now)
        try:
            handover = KeyHandover.model_validate(envelope.body)
            new_key = PublicKey.from_base64(handover.new_public_key)
        except (ValidationError, ValueError) as exc:
            raise VerificationError(Rejection.MALFORMED, f"bad key handover: {exc}") from exc
        if handover.old_key_id != envelope.key_id:
            raise VerificationError(
                Rejection.MALFORMED,
                f"handover for key {handover.old_key_id!r} is signed by {envelope.key_id!r}",
            )
        if now < handover.issued_at - max_clock_skew:
            raise VerificationError(
                Rejection.NOT_YET_VALID, f"handover issued at {handover.issued_at.isoformat()}"
            )
        if new_key.key_id in self.keys and handover.old_key_id in self.retired:
            return self  # the same handover delivered again
        if handover.old_key_id in self.retired:
            raise VerificationError(
                Rejection.UNKNOWN_KEY, f"key {handover.old_key_id!r} already handed over once"
            )
        if new_key.key_id in self.retired or new_key.key_id == handover.old_key_id:
            raise VerificationError(
                Rejection.UNKNOWN_KEY, f"key {new_key.key_id!r} was retired and cannot be trusted again"
            )
        keys = dict(self.keys)
        if handover.old_key_valid_until is None:
            del keys[handover.old_key_id]
        else:
            old = keys[handover.old_key_id]
            until = handover.old_key_valid_until
            if old.not_after is not None:
                until = min(until, old.not_after)
            keys[handover.old_key_id] = TrustedKey(public_key=old.public_key, not_after=until)
        keys[new_key.key_id] = TrustedKey(public_key=new_key.base64)
        return TrustStore(keys=keys, retired=tuple(sorted({*self.retired, handover.old_key_id})))


def save_trust_store(store: TrustStore, path: Path) -> None:
    """Persist the player's trust atomically: a power cut must not leave it trusting nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, canonical_json(store), mode=0o600)


def load_trust_store(path: Path) -> TrustStore:
    """Read a trust store written by save_trust_store, naming the file when it is unreadable."""
    path = Path(path)
    try:
        return TrustStore.model_validate(loads_strict(path.read_bytes()))
    except (CanonicalError, ValidationError) as exc:
        raise ValueError(f"trust store {path} is not valid: {exc}") from exc


def verify_envelope(
    raw: bytes | str | Envelope,
    *,
    trust: TrustStore,
    expected_kind: EnvelopeKind,
    screen_id: str,
    last_version: int | None,
    now: datetime,
    max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> VerifiedEnvelope:
    """Full check of a screen-bound envelope; raises VerificationError with the first failing reason."""
    envelope = trust.open(raw, expected_kind=expected_kind, now=now)
    try:
        header = EnvelopeHeader.model_validate(envelope.body)
    except ValidationError as exc:
        raise VerificationError(Rejection.MALFORMED, f"body lacks a valid header: {exc}") from exc
    if header.issued_at.tzinfo is None or header.expires_at.tzinfo is None:
        raise VerificationError(Rejection.MALFORMED, "issued_at and expires_at must carry a timezone")
    if header.expires_at <= header.issued_at:
        raise VerificationError(Rejection.MALFORMED, "expires_at is not after issued_at")
    if not header.addresses(screen_id):
        raise VerificationError(
            Rejection.WRONG_SCREEN, f"addressed to {header.target_label()}, this is {screen_id!r}"
        )
    if now < header.issued_at - max_clock_skew:
        raise VerificationError(
            Rejection.NOT_YET_VALID,
            f"issued at {header.issued_at.isoformat()}, player clock says {now.isoformat()}",
        )
    if now >= header.expires_at:
        raise VerificationError(Rejection.EXPIRED, f"expired at {header.expires_at.isoformat()}")
    if last_version is not None and header.version <= last_version:
        raise VerificationError(
            Rejection.STALE_VERSION,
            f"version {header.version} is not newer than accepted version {last_version}",
        )
    return VerifiedEnvelope(envelope=envelope, header=header)


def body_as(verified: VerifiedEnvelope | Envelope, model: type[ModelT]) -> ModelT:
    """Parse a verified body into its model, reporting a bad body as MALFORMED."""
    envelope = verified.envelope if isinstance(verified, VerifiedEnvelope) else verified
    try:
        return model.model_validate(envelope.body)
    except ValidationError as exc:
        raise VerificationError(Rejection.MALFORMED, f"body is not a valid {model.__name__}: {exc}") from exc
