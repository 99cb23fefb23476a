"""The per-screen manifest: everything a player needs to run a week offline, signed as one body."""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal, ParamSpec, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from signage_core.brightness import BrightnessPlan
from signage_core.canonical import canonical_json, canonical_object, canonical_scalar
from signage_core.languages import Language
from signage_core.schedule import (
    DAY,
    ScheduleRule,
    Segment,
    TimeWindow,
    from_local,
    require_aware,
    timeline,
    to_local,
)
from signage_core.signing import (
    DEFAULT_CLOCK_SKEW,
    Envelope,
    EnvelopeKind,
    SigningKey,
    TrustStore,
    body_as,
    sign_canonical_body,
    sign_envelope,
    verify_envelope,
)
from signage_core.zones import ZonesSpec, zone_rects

MANIFEST_FORMAT = 1
T = TypeVar("T")
P = ParamSpec("P")
DEFAULT_HORIZON_DAYS = 7
# Advertising Law 16/2012/QH13 Art. 18(2): foreign text at most 3/4 of the Vietnamese size.
DEFAULT_FOREIGN_SIZE_RATIO = 0.75
# Rotate screens: no language is shown for less than this (a 10 s item on a 3-language screen gives 3.3 s each).
DEFAULT_MIN_DWELL_MS = 3000
# Fields that change on every compile without changing what the screen shows.
_VOLATILE_FIELDS = frozenset({"version", "issued_at", "expires_at", "content_hash"})
# Fields a template leaves open: each screen sharing a body fills these in.
_PER_SCREEN_FIELDS = _VOLATILE_FIELDS | {"screen_id"}
# Fields left out of the body (not null) when unset: older bodies and their hashes stay what they were.
_OPTIONAL_FIELDS = ("brightness", "zones")
_UNHASHED = "unhashed"  # placeholder only build_manifest may pass, via validation context
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")


class ManifestError(ValueError):
    """A manifest that cannot be built or trusted as a whole; names the missing or bad part."""


class LayoutKind(StrEnum):
    STACKED = "stacked"  # all languages at once, Vietnamese on top
    ROTATE = "rotate"  # one language at a time, each item's time shared equally (rotation_slots)
    TICKER = "ticker"  # a scrolling strip


class LayoutSpec(BaseModel):
    """How one screen draws captions, and when it is switched on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)
    layout: LayoutKind
    languages: tuple[Language, ...] = Field(min_length=1)
    foreign_size_ratio: float = Field(default=DEFAULT_FOREIGN_SIZE_RATIO, gt=0, le=1)
    # Rotate layout: the least time one language stays up; shorter items are lengthened to give each this much.
    rotation_ms: int = Field(default=DEFAULT_MIN_DWELL_MS, ge=500)
    # Local wall time the screen is lit; None means always on.
    on_hours: TimeWindow | None = None

    @field_validator("languages")
    @classmethod
    def _display_order(cls, value: tuple[Language, ...]) -> tuple[Language, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"languages repeat: {[v.value for v in value]}")
        if Language.VI in value and value[0] is not Language.VI:
            raise ValueError("Vietnamese must come first (Advertising Law 16/2012/QH13 Art. 18(2))")
        return value  # the foreign languages keep the order the screen was set up with (Khmer first facing Cambodia)

    def item_ms(self, duration_ms: int) -> int:
        """How long an item plays on this screen: on rotate, long enough for every language's minimum dwell."""
        if self.layout is LayoutKind.ROTATE:
            return max(duration_ms, len(self.languages) * self.rotation_ms)
        return duration_ms


def rotation_slots(duration_ms: int, count: int) -> list[tuple[int, int]]:
    """The rotate rule: an item's time split into `count` equal [start, end) ms slots, one per language in order."""
    if count < 1:
        raise ValueError(f"a rotation needs at least one language, got {count}")
    return [(duration_ms * i // count, duration_ms * (i + 1) // count) for i in range(count)]


class PlaylistItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slide_id: str = Field(min_length=1)
    duration_ms: int = Field(ge=1000, le=3_600_000)


class Playlist(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    items: tuple[PlaylistItem, ...] = Field(min_length=1)

    @property
    def cycle_ms(self) -> int:
        return sum(item.duration_ms for item in self.items)


class Slide(BaseModel):
    """An approved slide: captions per language (Khmer with U+200B break hints), optional image."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    captions: dict[Language, str]
    image: str | None = None  # sha256 of an asset

    @field_validator("captions")
    @classmethod
    def _nfc(cls, value: dict[Language, str]) -> dict[Language, str]:
        for lang, text in value.items():
            if not text.strip():
                raise ValueError(f"caption {lang.value} is empty")
            if not unicodedata.is_normalized("NFC", text):
                raise ValueError(f"caption {lang.value} is not NFC; normalise before compiling")
        return value


class Asset(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str
    size: int = Field(ge=0)
    media_type: str

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _SHA256.fullmatch(value):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got {value!r}")
        return value

    @field_validator("media_type")
    @classmethod
    def _media(cls, value: str) -> str:
        if not _MEDIA_TYPE.fullmatch(value):
            raise ValueError(f"media_type must look like image/png, got {value!r}")
        return value


class ManifestBody(BaseModel):
    """The signed body of a screen's manifest; self-consistent or it does not validate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = 1
    screen_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    issued_at: datetime
    expires_at: datetime
    layout: LayoutSpec
    horizon_start: datetime
    horizon_end: datetime
    timeline: tuple[Segment, ...] = Field(min_length=1)
    default_playlist: str
    playlists: dict[str, Playlist]
    slides: dict[str, Slide]
    assets: dict[str, Asset]
    content_hash: str
    # Absent (not null) without a plan: players older than the field refuse unknown fields, and the
    # bodies and hashes of screens without a plan stay what they were (docs/protocol.md, "Brightness").
    brightness: BrightnessPlan | None = None
    # Optional zone template (main + strip + ticker); absent, like brightness, for a one-zone screen
    # (docs/protocol.md, "Zones").
    zones: ZonesSpec | None = None

    @model_serializer(mode="wrap")
    def _omit_absent_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in _OPTIONAL_FIELDS:
            if data.get(name) is None:
                data.pop(name, None)
        return data

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ManifestBody:
        for name in ("issued_at", "expires_at", "horizon_start", "horizon_end"):
            require_aware(getattr(self, name), name)
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at is not after issued_at")
        if self.timeline[0].start != self.horizon_start or self.timeline[-1].end != self.horizon_end:
            raise ValueError("timeline does not cover [horizon_start, horizon_end)")
        for before, after in zip(self.timeline, self.timeline[1:], strict=False):
            if before.end != after.start:
                raise ValueError(f"timeline has a gap or overlap at {before.end.isoformat()}")
        _check_keys("playlists", self.playlists, lambda p: p.id)
        _check_keys("slides", self.slides, lambda s: s.id)
        _check_keys("assets", self.assets, lambda a: a.sha256)
        needed = {self.default_playlist} | {p for seg in self.timeline for p in seg.playlist_ids}
        if self.zones is not None:
            zone_rects(self.layout.width, self.layout.height, self.zones.template)  # refuses a screen too small
            if self.zones.ticker_playlist is not None:
                needed.add(self.zones.ticker_playlist)
        _require("playlist", needed, self.playlists)
        _require("slide", {i.slide_id for p in self.playlists.values() for i in p.items}, self.slides)
        _require("asset", {s.image for s in self.slides.values() if s.image}, self.assets)
        for slide in self.slides.values():
            missing = [lang.value for lang in self.layout.languages if lang not in slide.captions]
            if missing:
                raise ValueError(f"slide {slide.id!r} has no approved caption for {missing}")
        if self.content_hash == _UNHASHED and info.context and info.context.get(_UNHASHED):
            return self  # build_manifest fills the hash in right after
        expected = content_hash(self)
        if self.content_hash != expected:
            raise ValueError(f"content_hash {self.content_hash} does not match content ({expected})")
        return self


def _check_keys(what: str, mapping: Mapping[str, T], key_of: Callable[[T], str]) -> None:
    for key, value in mapping.items():
        actual = key_of(value)
        if key != actual:
            raise ValueError(f"{what} key {key!r} does not match its id {actual!r}")


def _require(what: str, needed: Iterable[str], present: Mapping[str, object]) -> None:
    missing = sorted(set(needed) - set(present))
    if missing:
        raise ValueError(f"manifest references {what}(s) it does not carry: {missing}")


def content_hash(body: ManifestBody | dict[str, object]) -> str:
    """Hash of what the screen will show, ignoring version and dates, so recompiles can be skipped."""
    plain = body.model_dump(mode="python") if isinstance(body, ManifestBody) else dict(body)
    stable = {k: v for k, v in plain.items() if k not in _VOLATILE_FIELDS}
    return "sha256:" + hashlib.sha256(canonical_json(stable)).hexdigest()


@functools.lru_cache(maxsize=64)
def horizon_window(now: datetime, days: int = DEFAULT_HORIZON_DAYS) -> tuple[datetime, datetime]:
    """Today's local midnight to `days` days after tomorrow's; day-aligned so same-day recompiles hash equal.

    Memoised: a recompile asks it once per screen with the same instant."""
    if days < 1:
        raise ValueError(f"horizon must be at least one day, got {days}")
    midnight = datetime.combine(to_local(now).date(), time())
    return from_local(midnight), from_local(midnight + (days + 1) * DAY)


@dataclass(frozen=True, slots=True)
class SignedManifest:
    """One screen's signed manifest as the server stores and publishes it (retained)."""

    screen_id: str
    version: int
    content_hash: str
    key_id: str
    envelope_json: bytes  # canonical JSON of the envelope


class ManifestTemplate:
    """A validated body whose shared members are canonical bytes, encoded once.

    Screens with the same rule set and layout get the same body but for their id, version and
    dates. Encoding a week's body costs milliseconds; with the template each screen costs a
    splice, a SHA-256 and an Ed25519 signature over bytes identical to canonical_json(body).
    """

    __slots__ = ("_hashes", "_shared", "body")

    def __init__(self, body: ManifestBody) -> None:
        plain = body.model_dump(mode="python", by_alias=True)
        self._shared = {k: canonical_json(v) for k, v in plain.items() if k not in _PER_SCREEN_FIELDS}
        self._hashes: dict[str, str] = {}  # per screen id: compared first, then signed
        mine = self.content_hash(body.screen_id)
        self.body = body if body.content_hash == mine else body.model_copy(update={"content_hash": mine})

    def content_hash(self, screen_id: str) -> str:
        """content_hash() of this body addressed to `screen_id`, from the shared bytes."""
        digest = self._hashes.get(screen_id)
        if digest is None:
            stable = canonical_object({**self._shared, "screen_id": canonical_json(screen_id)})
            digest = self._hashes[screen_id] = "sha256:" + hashlib.sha256(stable).hexdigest()
        return digest

    def body_json(self, *, screen_id: str, version: int, issued_at: datetime, expires_at: datetime) -> bytes:
        """canonical_json of the body for this screen, version and validity, spliced from the shared bytes."""
        return self._splice(screen_id, version, issued_at, expires_at)[0]

    def _splice(self, screen_id: str, version: int, issued_at: datetime, expires_at: datetime) -> tuple[bytes, str]:
        if not screen_id:
            raise ManifestError("screen_id is empty")
        if type(version) is not int or version < 1:
            raise ManifestError(f"version must be a positive integer, got {version!r}")
        require_aware(issued_at, "issued_at")
        require_aware(expires_at, "expires_at")
        if expires_at <= issued_at:
            raise ManifestError(f"manifest for screen {screen_id!r}: expires_at is not after issued_at")
        digest = self.content_hash(screen_id)
        return canonical_object({
            **self._shared,
            "screen_id": canonical_json(screen_id),
            "version": canonical_json(version),
            "issued_at": canonical_scalar(issued_at),
            "expires_at": canonical_scalar(expires_at),
            "content_hash": canonical_json(digest),
        }), digest

    def sign(self, *, screen_id: str, version: int, issued_at: datetime, expires_at: datetime,
             key: SigningKey) -> SignedManifest:
        """The envelope the player verifies, for one screen sharing this body."""
        body_json, digest = self._splice(screen_id, version, issued_at, expires_at)
        return SignedManifest(screen_id=screen_id, version=version, content_hash=digest,
                              key_id=key.key_id,
                              envelope_json=sign_canonical_body(EnvelopeKind.MANIFEST, body_json, key))


def build_manifest_template(
    *,
    screen_id: str,
    version: int,
    issued_at: datetime,
    expires_at: datetime,
    layout: LayoutSpec,
    rules: Sequence[ScheduleRule],
    default_playlist: str,
    playlists: Iterable[Playlist],
    slides: Iterable[Slide],
    assets: Iterable[Asset],
    horizon_start: datetime,
    horizon_end: datetime,
    segments: Sequence[Segment] | None = None,
    brightness: BrightnessPlan | None = None,
    zones: ZonesSpec | None = None,
) -> ManifestTemplate:
    """Resolve the timeline and carry only the playlists, slides and assets it actually uses.

    `segments`, when given, is timeline(rules, default_playlist, horizon_start, horizon_end) computed
    once for every screen sharing that rule set (the compiler's cache). The result keeps the body
    encoded, so every screen sharing the rule set and layout reuses it (build_manifest: the body alone).
    """
    by_playlist = {p.id: p for p in playlists}
    by_slide = {s.id: s for s in slides}
    by_asset = {a.sha256: a for a in assets}
    if segments is None:
        segments = timeline(rules, default_playlist, horizon_start, horizon_end)
    ticker = {zones.ticker_playlist} if zones is not None and zones.ticker_playlist else set()
    used_playlists = sorted({default_playlist} | ticker | {p for s in segments for p in s.playlist_ids})
    _present("playlist", used_playlists, by_playlist, screen_id)
    used_slides = sorted({i.slide_id for p in used_playlists for i in by_playlist[p].items})
    _present("slide", used_slides, by_slide, screen_id)
    used_assets = sorted({img for s in used_slides if (img := by_slide[s].image)})
    _present("asset", used_assets, by_asset, screen_id)
    fields: dict[str, object] = {
        "format": MANIFEST_FORMAT,
        "screen_id": screen_id,
        "layout": layout,
        "horizon_start": require_aware(horizon_start, "horizon_start"),
        "horizon_end": require_aware(horizon_end, "horizon_end"),
        "timeline": tuple(segments),
        "default_playlist": default_playlist,
        "playlists": {p: _fit_items(by_playlist[p], layout) for p in used_playlists},
        "slides": {s: by_slide[s] for s in used_slides},
        "assets": {a: by_asset[a] for a in used_assets},
    }
    if brightness is not None:
        fields["brightness"] = brightness
    if zones is not None:
        fields["zones"] = zones
    try:
        # Validate everything but the hash, then fill it in: hashing a large body once, not twice.
        draft = ManifestBody.model_validate(
            {**fields, "version": version, "issued_at": issued_at, "expires_at": expires_at,
             "content_hash": _UNHASHED},
            context={_UNHASHED: True},
        )
    except ValueError as exc:
        raise ManifestError(f"manifest for screen {screen_id!r} is invalid: {exc}") from exc
    return ManifestTemplate(draft)


def _fit_items(playlist: Playlist, layout: LayoutSpec) -> Playlist:
    """The playlist as this screen plays it: rotate items lengthened so each language gets its minimum dwell."""
    items = tuple(item if layout.item_ms(item.duration_ms) == item.duration_ms
                  else item.model_copy(update={"duration_ms": layout.item_ms(item.duration_ms)})
                  for item in playlist.items)
    return playlist if items == playlist.items else playlist.model_copy(update={"items": items})


def _body_only(builder: Callable[P, ManifestTemplate]) -> Callable[P, ManifestBody]:
    def build(*args: P.args, **kwargs: P.kwargs) -> ManifestBody:
        return builder(*args, **kwargs).body

    build.__doc__ = "build_manifest_template(...).body: one screen's validated, hashed manifest body."
    return build


build_manifest = _body_only(build_manifest_template)


def _present(what: str, ids: Iterable[str], available: Mapping[str, object], screen_id: str) -> None:
    missing = sorted(set(ids) - set(available))
    if missing:
        raise ManifestError(f"screen {screen_id!r} needs {what}(s) that were not supplied: {missing}")


def sign_manifest(body: ManifestBody, key: SigningKey) -> Envelope:
    """Envelope the server publishes (retained) on the screen's manifest topic."""
    return sign_envelope(EnvelopeKind.MANIFEST, body, key)


def verify_manifest(
    raw: bytes | str | Envelope,
    *,
    trust: TrustStore,
    screen_id: str,
    last_version: int | None,
    now: datetime,
    max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> ManifestBody:
    """Player side: signature and header checks, then the body must be a consistent manifest."""
    verified = verify_envelope(
        raw,
        trust=trust,
        expected_kind=EnvelopeKind.MANIFEST,
        screen_id=screen_id,
        last_version=last_version,
        now=now,
        max_clock_skew=max_clock_skew,
    )
    return body_as(verified, ManifestBody)


def interleave(playlists: Sequence[Playlist]) -> tuple[PlaylistItem, ...]:
    """Equal priorities share airtime: round-robin one item each, shorter lists wrap, until the longest ends."""
    if not playlists:
        raise ValueError("nothing to interleave")
    if len(playlists) == 1:
        return playlists[0].items
    rounds = max(len(p.items) for p in playlists)
    return tuple(p.items[i % len(p.items)] for i in range(rounds) for p in playlists)


@dataclass(frozen=True, slots=True)
class NowPlaying:
    """The item a player shows at an instant, and when to look again."""

    playlist_ids: tuple[str, ...]
    item: PlaylistItem
    slide: Slide
    position: int  # index in the (interleaved) cycle
    started_at: datetime
    until: datetime  # end of this item or of its segment, whichever is first
    is_default: bool
    stale: bool  # outside the manifest's horizon: looping the default playlist

    @property
    def playlist_id(self) -> str:
        """The playlist this item came from: interleave takes one item from each in turn."""
        return self.playlist_ids[self.position % len(self.playlist_ids)]


def segment_at(manifest: ManifestBody, at: datetime) -> Segment | None:
    """The timeline segment covering `at`, or None outside the horizon."""
    at = require_aware(at, "at")
    if not manifest.horizon_start <= at < manifest.horizon_end:
        return None
    starts = [segment.start for segment in manifest.timeline]
    return manifest.timeline[bisect.bisect_right(starts, at) - 1]


def now_playing(manifest: ManifestBody, at: datetime) -> NowPlaying:
    """What to show at `at`; cycles restart at each segment start, and past the horizon the default loops."""
    at = require_aware(at, "at")
    segment = segment_at(manifest, at)
    ids: tuple[str, ...]
    end: datetime | None
    if segment is None:
        ids, anchor, end, is_default, stale = (
            (manifest.default_playlist,), manifest.horizon_end, None, True, True
        )
    else:
        ids, anchor, end = segment.playlist_ids, segment.start, segment.end
        is_default, stale = segment.is_default, False
    items = interleave([manifest.playlists[p] for p in ids])
    cycle_ms = sum(item.duration_ms for item in items)
    elapsed_ms = (at - anchor) // timedelta(milliseconds=1)
    offset = elapsed_ms % cycle_ms  # Python's modulo keeps this positive before the anchor too
    position, item_start_ms = 0, 0
    while item_start_ms + items[position].duration_ms <= offset:
        item_start_ms += items[position].duration_ms
        position += 1
    item = items[position]
    started = at - timedelta(milliseconds=offset - item_start_ms)
    until = started + timedelta(milliseconds=item.duration_ms)
    if end is not None:
        until = min(until, end)
    return NowPlaying(
        playlist_ids=ids,
        item=item,
        slide=manifest.slides[item.slide_id],
        position=position,
        started_at=started,
        until=until,
        is_default=is_default,
        stale=stale,
    )


def is_screen_on(layout: LayoutSpec, at: datetime) -> bool:
    """True inside the screen's on-hours (local time; overnight windows allowed) or when always on."""
    if layout.on_hours is None:
        return True
    local = to_local(at)
    window = layout.on_hours
    moment = local.time()
    if window.overnight:
        return moment >= window.start or moment < window.end
    return window.start <= moment < window.end
