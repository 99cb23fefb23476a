"""The MQTT wire contract server and player must agree on: topics, QoS, retain flags, payloads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from signage_core.brightness import LevelSource
from signage_core.languages import Language

PREFIX = "signage/v1"
# A screen or group id becomes a topic level and a broker username: no '/', '+', '#', '$'.
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_ID_RE = re.compile(ID_PATTERN)

DEFAULT_CHUNK_SIZE = 256 * 1024
MAX_CHUNK_SIZE = 1024 * 1024
# Room for the JSON header of a chunk or screenshot frame on top of its bytes.
FRAME_HEADER_MAX = 4 * 1024
MESSAGE_SIZE_LIMIT = MAX_CHUNK_SIZE + FRAME_HEADER_MAX


class ProtocolError(ValueError):
    """A payload or topic that does not follow this contract; the message names what is wrong."""


def check_id(value: str, *, what: str = "screen id") -> str:
    """Refuse ids that would break the topic tree or the broker's username space."""
    if not _ID_RE.fullmatch(value):
        raise ProtocolError(
            f"invalid {what} {value!r}: use 1-63 of a-z, 0-9, '-', '_', starting with a letter or digit"
        )
    return value


def screen_client_id(screen_id: str) -> str:
    """The one MQTT client id a screen's account may connect with (the broker binds the two)."""
    return f"screen-{check_id(screen_id)}"


# ---------------------------------------------------------------- topics


class Party(StrEnum):
    SERVER = "server"
    SCREEN = "screen"  # the screen the topic belongs to, and no other
    GROUP_MEMBER = "group member"  # every screen in the group
    EVERY_SCREEN = "every screen"  # one topic all screens read (the key hand-over chain)


class TopicKind(StrEnum):
    MANIFEST = "manifest"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    PLAYLOG = "playlog"
    PLAYLOG_ACK = "playlog/ack"
    ASSET_REQUEST = "asset/request"
    ASSET_CHUNK = "asset/chunk"
    COMMAND = "command"
    SCREENSHOT = "screenshot"
    ALERT_ACK = "alert/ack"
    GROUP_ALERT = "alert"
    KEY_HANDOVERS = "keys/handovers"
    FEED = "feed"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One row of the topic table: docs, ACLs and clients are all derived from it."""

    kind: TopicKind
    template: str
    qos: int
    retained: bool
    publisher: Party
    subscriber: Party
    payload: str

    def topic(self, owner: str) -> str:
        """The concrete topic for one screen (or group)."""
        return self.template.format(owner=owner)


_S = PREFIX + "/screens/{owner}/"
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(TopicKind.MANIFEST, _S + "manifest", 1, True, Party.SERVER, Party.SCREEN, "signed envelope (manifest)"),
    TopicSpec(TopicKind.STATUS, _S + "status", 1, True, Party.SCREEN, Party.SERVER, "Status"),
    TopicSpec(TopicKind.HEARTBEAT, _S + "heartbeat", 0, False, Party.SCREEN, Party.SERVER, "Heartbeat"),
    TopicSpec(TopicKind.PLAYLOG, _S + "playlog", 1, False, Party.SCREEN, Party.SERVER, "PlayLogBatch"),
    TopicSpec(TopicKind.PLAYLOG_ACK, _S + "playlog/ack", 1, False, Party.SERVER, Party.SCREEN, "PlayLogAck"),
    TopicSpec(TopicKind.ASSET_REQUEST, _S + "asset/request", 1, False, Party.SCREEN, Party.SERVER, "AssetRequest"),
    TopicSpec(TopicKind.ASSET_CHUNK, _S + "asset/chunk", 1, False, Party.SERVER, Party.SCREEN, "ChunkHeader + bytes (frame)"),
    TopicSpec(TopicKind.COMMAND, _S + "command", 1, False, Party.SERVER, Party.SCREEN, "signed envelope (CommandBody)"),
    TopicSpec(TopicKind.SCREENSHOT, _S + "screenshot", 1, False, Party.SCREEN, Party.SERVER, "ScreenshotHeader + JPEG (frame)"),
    TopicSpec(TopicKind.ALERT_ACK, _S + "alert/ack", 1, False, Party.SCREEN, Party.SERVER, "AlertAck"),
    # Retained: a player that reconnects gets the strip's values at once (and hides those past their limit).
    TopicSpec(TopicKind.FEED, _S + "feed", 1, True, Party.SERVER, Party.SCREEN, "signed envelope (FeedBody)"),
    TopicSpec(TopicKind.GROUP_ALERT, PREFIX + "/groups/{owner}/alert", 1, True, Party.SERVER, Party.GROUP_MEMBER, "signed envelope (alert)"),
    # Retained: a player offline during rotations still gets every hand-over when it reconnects.
    TopicSpec(TopicKind.KEY_HANDOVERS, PREFIX + "/keys/handovers", 1, True, Party.SERVER, Party.EVERY_SCREEN, "KeyHandoverChain"),
)
SPECS: dict[TopicKind, TopicSpec] = {spec.kind: spec for spec in TOPICS}
# Topics not owned by one screen: group alerts and the shared key chain.
_SHARED_KINDS = frozenset({TopicKind.GROUP_ALERT, TopicKind.KEY_HANDOVERS})
SCREEN_TOPICS: tuple[TopicSpec, ...] = tuple(s for s in TOPICS if s.kind not in _SHARED_KINDS)


def screen_topic(screen_id: str, kind: TopicKind) -> str:
    """A screen's own topic of the given kind, with the id checked."""
    if kind is TopicKind.GROUP_ALERT:
        raise ProtocolError("group alert topics belong to groups: use group_alert_topic()")
    if kind is TopicKind.KEY_HANDOVERS:
        raise ProtocolError("the key hand-over chain is one topic for all screens: use key_handovers_topic()")
    return SPECS[kind].topic(check_id(screen_id))


def manifest_topic(screen_id: str) -> str:
    """Retained QoS 1: a player that connects gets its current manifest at once."""
    return screen_topic(screen_id, TopicKind.MANIFEST)


def status_topic(screen_id: str) -> str:
    """Retained online/offline presence, the offline one being the player's last will."""
    return screen_topic(screen_id, TopicKind.STATUS)


def heartbeat_topic(screen_id: str) -> str:
    """Periodic health, so the server can mark a screen offline after missed beats."""
    return screen_topic(screen_id, TopicKind.HEARTBEAT)


def playlog_topic(screen_id: str) -> str:
    """Proof-of-play batches the player keeps until acknowledged."""
    return screen_topic(screen_id, TopicKind.PLAYLOG)


def playlog_ack_topic(screen_id: str) -> str:
    """Record ids the server has stored, so the player may drop them."""
    return screen_topic(screen_id, TopicKind.PLAYLOG_ACK)


def asset_request_topic(screen_id: str) -> str:
    """Where a player asks for a byte range of an asset."""
    return screen_topic(screen_id, TopicKind.ASSET_REQUEST)


def asset_chunk_topic(screen_id: str) -> str:
    """Where the server answers that screen's asset requests, unseen by other screens."""
    return screen_topic(screen_id, TopicKind.ASSET_CHUNK)


def command_topic(screen_id: str) -> str:
    """Signed commands (screenshot, resync) for one screen."""
    return screen_topic(screen_id, TopicKind.COMMAND)


def screenshot_topic(screen_id: str) -> str:
    """The player's answer to a screenshot command."""
    return screen_topic(screen_id, TopicKind.SCREENSHOT)


def alert_ack_topic(screen_id: str) -> str:
    """The player's proof that an urgent alert is on screen."""
    return screen_topic(screen_id, TopicKind.ALERT_ACK)


def group_alert_topic(group: str) -> str:
    """Retained QoS 1 signed alert for every screen in a group."""
    return SPECS[TopicKind.GROUP_ALERT].topic(check_id(group, what="group"))


def key_handovers_topic() -> str:
    """Retained QoS 1 chain of every key hand-over, oldest first, read by every screen."""
    return SPECS[TopicKind.KEY_HANDOVERS].template


def all_screens_filter(kind: TopicKind) -> str:
    """The server's wildcard subscription for one kind of per-screen topic."""
    if kind in _SHARED_KINDS:
        raise ProtocolError(f"{kind.value} is published by the server, not subscribed to by it")
    return SPECS[kind].template.format(owner="+")


_SCREEN_TOPIC_RE = re.compile(r"^" + re.escape(PREFIX) + r"/screens/([^/]+)/(.+)$")


def parse_screen_topic(topic: str) -> tuple[str, TopicKind]:
    """Split a per-screen topic into (screen id, kind), refusing anything outside the table."""
    match = _SCREEN_TOPIC_RE.fullmatch(topic)
    if match is None:
        raise ProtocolError(f"not a per-screen topic: {topic!r}")
    screen_id, rest = match.groups()
    check_id(screen_id)
    try:
        kind = TopicKind(rest)
    except ValueError:
        raise ProtocolError(f"unknown topic kind {rest!r} in {topic!r}") from None
    if kind in _SHARED_KINDS:
        raise ProtocolError(f"unknown topic kind {rest!r} in {topic!r}")
    return screen_id, kind


# ---------------------------------------------------------------- payload models

Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN)]
ScreenId = Annotated[str, Field(pattern=ID_PATTERN)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Status(_Wire):
    """Presence; `at` is None in the last will because a dead player cannot say when it died."""

    screen_id: ScreenId
    state: Literal["online", "offline"]
    at: AwareDatetime | None = None
    agent_version: str | None = Field(default=None, max_length=64)


class Heartbeat(_Wire):
    """What the server needs to judge a screen's health without a screenshot."""

    screen_id: ScreenId
    sent_at: AwareDatetime
    uptime_s: float = Field(ge=0)
    clock_offset_s: float | None = None  # player clock minus server clock, from the last live signed message
    manifest_version: str | None = Field(default=None, max_length=128)
    current_slide_id: str | None = Field(default=None, max_length=128)
    cache_bytes: int = Field(default=0, ge=0)
    disk_free_bytes: int | None = Field(default=None, ge=0)
    temperature_c: float | None = None
    current_language: str | None = Field(default=None, max_length=8)
    frame_hash: Sha256 | None = None
    stale: bool = False  # playing past the manifest horizon
    last_error: str | None = Field(default=None, max_length=500)
    # Lasting conditions the player works around (damaged state file, disk full, held manifest).
    problems: tuple[Annotated[str, Field(max_length=300)], ...] = Field(default=(), max_length=16)
    # The LED's level now and why (plan, override, alert, sensor); None: no brightness control.
    brightness_percent: int | None = Field(default=None, ge=0, le=100)
    brightness_source: LevelSource | None = None


class LanguageSegment(_Wire):
    """A language on screen during a play: from offset_ms after the play's start, for duration_ms.

    Stacked and ticker items credit every language shown for the whole item (segments overlap);
    a rotate item has one segment per frame, as long as that frame was up.
    """

    language: Language
    offset_ms: int = Field(ge=0)
    duration_ms: int = Field(ge=0)


class PlayRecord(_Wire):
    """One slide shown once; record_id is the player's, so re-sent batches are idempotent."""

    record_id: str = Field(min_length=1, max_length=64)
    slide_id: str = Field(min_length=1, max_length=128)
    # Reports count airtime per playlist (campaign) and per language: both travel with each play.
    playlist_id: str | None = Field(default=None, max_length=128)
    # The manifest the item was played from (not the one active when the record was sent).
    manifest_version: str = Field(min_length=1, max_length=128)
    started_at: AwareDatetime  # the player's wall clock when the item started
    duration_ms: int = Field(ge=0)  # measured on the monotonic clock
    # Which languages were on screen and for how long; None: unknown (a player from before segments).
    segments: list[LanguageSegment] | None = Field(default=None, max_length=64)
    # Zoned screens: "ticker" for a ticker-zone message; None the main zone (every record before zones).
    zone: Literal["ticker"] | None = None
    # Older players: the language of the first frame only. Not airtime; kept so their records still parse.
    language: Language | None = None
    # Closed at the next start after a crash, at the player's last checkpoint (airtime may be short).
    interrupted: bool = False
    # How far the wall clock moved beyond duration_ms during the item (a clock step, NTP fix): never airtime.
    clock_jump_ms: int = 0
    # The exact pixels shown (signage_core.render.frame_hash): proof of what was on screen.
    frame_hash: Sha256

    @model_serializer(mode="wrap")
    def _omit_main_zone(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("zone") is None:
            data.pop("zone", None)  # a main-zone record reads exactly as before zones
        return data

    @model_validator(mode="after")
    def _segments_inside(self) -> PlayRecord:
        for seg in self.segments or ():
            if seg.offset_ms + seg.duration_ms > self.duration_ms:
                raise ValueError(f"segment {seg.language.value} ends after the play's {self.duration_ms} ms")
        return self


class PlayLogBatch(_Wire):
    """Play records sent together; the player keeps them until each id is acknowledged."""

    screen_id: ScreenId
    records: list[PlayRecord] = Field(min_length=1, max_length=1000)


class PlayLogAck(_Wire):
    """Ids the server has durably stored; ids it has seen before are acknowledged again."""

    record_ids: list[str] = Field(min_length=1, max_length=1000)


class AssetRequest(_Wire):
    """A byte range of a content-addressed asset; request_id matches the reply to the request."""

    request_id: str = Field(min_length=1, max_length=64)
    sha256: Sha256
    offset: int = Field(ge=0)
    length: int = Field(gt=0, le=MAX_CHUNK_SIZE)


class ChunkHeader(_Wire):
    """Describes the raw bytes after it in a chunk frame; error set means no bytes follow."""

    request_id: str = Field(min_length=1, max_length=64)
    sha256: Sha256
    offset: int = Field(ge=0)
    total_size: int = Field(ge=0)
    length: int = Field(ge=0, le=MAX_CHUNK_SIZE)
    error: str | None = Field(default=None, max_length=500)


class AlertAck(_Wire):
    """Proof an alert is on screen: the hash of the frame the player actually drew."""

    alert_id: str = Field(min_length=1, max_length=64)
    frame_hash: Sha256
    shown_at: AwareDatetime


class KeyHandoverChain(_Wire):
    """Every key hand-over the server issued, oldest first; signing.py verifies each envelope."""

    handovers: list[dict[str, JsonValue]] = Field(default_factory=list, max_length=1000)


class CommandKind(StrEnum):
    SCREENSHOT = "screenshot"
    RESYNC = "resync"
    RESTART_PLAYER = "restart_player"
    IDENTIFY = "identify"  # show the screen's name for a while, so a technician finds it
    CLEAR_CACHE = "clear_cache"  # drop cached assets the active manifest does not use


class CommandBody(_Wire):
    """The content of a signed command; expires so a replayed old command is ignored."""

    command_id: str = Field(min_length=1, max_length=64)
    screen_id: ScreenId
    kind: CommandKind
    version: int = Field(ge=1)  # the envelope header's sequence: a replayed command is refused
    issued_at: AwareDatetime
    expires_at: AwareDatetime


class AlertBody(_Wire):
    """The content of a signed urgent alert (show or withdraw), one body for every targeted screen."""

    # Urgent text must reach players older than a field the server adds later: they ignore it.
    model_config = ConfigDict(extra="ignore", frozen=True)

    alert_id: str = Field(min_length=1, max_length=64)
    action: Literal["show", "withdraw"] = "show"
    captions: dict[Language, str] = Field(default_factory=dict)
    # On a zoned screen: "main" covers the slides' zone only (strip and ticker stay), "full" the whole screen.
    cover: Literal["full", "main"] = "full"
    screen_ids: tuple[ScreenId, ...]
    version: int = Field(ge=1)  # one server-wide sequence for launches and withdrawals
    issued_at: AwareDatetime
    expires_at: AwareDatetime


class ScreenshotHeader(_Wire):
    """Describes the JPEG after it in a screenshot frame."""

    command_id: str = Field(min_length=1, max_length=64)
    taken_at: AwareDatetime
    content_type: Literal["image/jpeg", "image/png"] = "image/jpeg"
    length: int = Field(ge=0, le=MAX_CHUNK_SIZE)


M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", "ChunkHeader", "ScreenshotHeader")


def encode(model: BaseModel) -> bytes:
    """Compact JSON bytes for a payload model."""
    return model.model_dump_json().encode("utf-8")


def decode(model: type[M], payload: bytes) -> M:
    """Parse a payload into its model, naming the model and the fields that are wrong."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(payload)'}: {err['msg']}" for err in exc.errors()
        )
        raise ProtocolError(f"bad {model.__name__} payload: {problems}") from None


def decode_envelope(payload: bytes) -> dict[str, JsonValue]:
    """Signed messages travel as one JSON object; signing.py verifies what is inside."""
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"signed envelope is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("signed envelope must be a JSON object")
    return value


def encode_envelope(envelope: dict[str, JsonValue]) -> bytes:
    """The payload bytes for a signed envelope object."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- binary frames
# A frame is one line of JSON header, b"\n", then raw bytes: no base64 (+33 % on a 4G link
# and CPU on small players), yet the header stays readable with mosquitto_sub.


def encode_frame(header: ChunkHeader | ScreenshotHeader, data: bytes) -> bytes:
    """Header line plus raw bytes, refusing a header that disagrees with the data."""
    if header.length != len(data):
        raise ProtocolError(f"frame header says {header.length} bytes but {len(data)} follow")
    head = encode(header)
    if len(head) > FRAME_HEADER_MAX:
        raise ProtocolError(f"frame header is {len(head)} bytes, over {FRAME_HEADER_MAX}")
    return head + b"\n" + data


def decode_frame(header_model: type[H], payload: bytes) -> tuple[H, bytes]:
    """Split and check a frame: the header must parse and announce exactly the bytes present."""
    cut = payload.find(b"\n", 0, FRAME_HEADER_MAX + 1)
    if cut < 0:
        raise ProtocolError(f"{header_model.__name__} frame has no header line")
    header = decode(header_model, payload[:cut])
    data = payload[cut + 1 :]
    if header.length != len(data):
        raise ProtocolError(
            f"{header_model.__name__} frame announces {header.length} bytes but carries {len(data)}"
        )
    return header, data


# ---------------------------------------------------------------- broker address


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS settings for mqtts://; ca_file None means the system trust store."""

    ca_file: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False  # skip hostname check: only for a self-signed lab broker


@dataclass(frozen=True, slots=True)
class BrokerParams:
    """Everything a client needs to open a connection to the broker."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: TlsOptions | None = None

    def with_credentials(self, username: str, password: str) -> BrokerParams:
        """Same broker, another account."""
        return BrokerParams(self.host, self.port, username, password, self.tls)

    def url(self) -> str:
        """The URL without credentials, for logs and for handing to an enrolling player."""
        scheme = "mqtts" if self.tls else "mqtt"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


_TLS_QUERY_KEYS = {"ca", "cert", "key", "insecure"}


def parse_broker_url(
    url: str,
    *,
    ca_file: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    insecure: bool = False,
) -> BrokerParams:
    """Turn mqtt://user:pass@host:port or mqtts://...?ca=/path into connection parameters."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ProtocolError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ProtocolError(f"broker URL {url!r} has no host")
    if parts.path not in ("", "/"):
        raise ProtocolError(f"broker URL {url!r} must not have a path ({parts.path!r})")
    try:
        port = parts.port
    except ValueError:
        raise ProtocolError(f"broker URL {url!r} has an invalid port") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - _TLS_QUERY_KEYS
    if unknown:
        raise ProtocolError(f"broker URL {url!r} has unknown options: {', '.join(sorted(unknown))}")
    ca_file = ca_file or query.get("ca") or None
    certfile = certfile or query.get("cert") or None
    keyfile = keyfile or query.get("key") or None
    insecure = insecure or query.get("insecure", "").lower() in ("1", "true", "yes")
    tls: TlsOptions | None = None
    if parts.scheme == "mqtts":
        tls = TlsOptions(ca_file=ca_file, certfile=certfile, keyfile=keyfile, insecure=insecure)
    elif ca_file or certfile or keyfile or insecure:
        raise ProtocolError(f"TLS options given for plain {url!r}: use mqtts://")
    if (certfile is None) != (keyfile is None):
        raise ProtocolError("a client certificate needs both cert and key")
    return BrokerParams(
        host=parts.hostname,
        port=port if port is not None else (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )
