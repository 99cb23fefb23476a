"""Test-side "server" for the running player: signs manifests/alerts/commands, enrols a state dir, runs agents."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from PIL import Image

from player_agent.agent import Agent
from player_agent.config import OutputKind, PlayerSettings, PngOptions, ScreenshotOptions
from player_agent.enrol import Identity, save_identity, save_trust
from player_agent.output.png import PngOutput
from player_agent.state import StateStore
from signage_core.brightness import BrightnessPlan
from signage_core.languages import Language
from signage_core.manifest import (
    Asset,
    LayoutKind,
    LayoutSpec,
    ManifestBody,
    Playlist,
    PlaylistItem,
    Slide,
    build_manifest,
    horizon_window,
    sign_manifest,
)
from signage_core.protocol import AlertBody, ChunkHeader
from signage_core.schedule import TimeWindow
from signage_core.signing import (
    EnvelopeKind,
    SigningKey,
    TrustStore,
    sign_envelope,
)
from signage_core.zones import ZonesSpec
from tests.polling import eventually

# The server's player-in-the-loop tests import it under its old name.
wait_for = eventually

CAPTIONS = {
    Language.VI: "Cửa khẩu quốc tế",
    Language.EN: "International border gate",
    Language.KM: "ច្រកព្រំដែនអន្តរជាតិ",
}
SERVER_KEY = SigningKey.generate()


def png_bytes(colour: tuple[int, int, int], size: tuple[int, int] = (64, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def asset_of(data: bytes) -> Asset:
    return Asset(sha256=hashlib.sha256(data).hexdigest(), size=len(data), media_type="image/png")


def manifest(
    screen_id: str,
    version: int,
    *,
    now: datetime,
    slides: Iterable[Slide] | None = None,
    durations_ms: int | tuple[int, ...] = 60_000,
    layout: LayoutKind = LayoutKind.STACKED,
    size: tuple[int, int] = (480, 240),
    assets: Iterable[Asset] = (),
    on_hours: TimeWindow | None = None,
    languages: tuple[Language, ...] = (Language.VI, Language.EN, Language.KM),
    rotation_ms: int = 3000,
    brightness: BrightnessPlan | None = None,
    zones: ZonesSpec | None = None,
) -> ManifestBody:
    slide_list = list(slides or [Slide(id="s1", captions=dict(CAPTIONS))])
    start, end = horizon_window(now)
    return build_manifest(
        screen_id=screen_id,
        version=version,
        issued_at=now,
        expires_at=now + timedelta(days=9),
        layout=LayoutSpec(width=size[0], height=size[1], layout=layout,
                          languages=languages, on_hours=on_hours, rotation_ms=rotation_ms),
        rules=[],
        default_playlist="p",
        playlists=[Playlist(id="p", items=tuple(
            PlaylistItem(slide_id=s.id, duration_ms=durations_ms if isinstance(durations_ms, int) else durations_ms[i])
            for i, s in enumerate(slide_list)))],
        slides=slide_list,
        assets=list(assets),
        horizon_start=start,
        horizon_end=end,
        brightness=brightness,
        zones=zones,
    )


def signed(body: ManifestBody, key: SigningKey = SERVER_KEY) -> bytes:
    return sign_manifest(body, key).to_json()


def alert(screen_ids: list[str], alert_id: str, version: int, *, now: datetime, ttl_s: float = 60,
          action: Literal["show", "withdraw"] = "show", cover: Literal["full", "main"] = "full",
          key: SigningKey = SERVER_KEY) -> bytes:
    body = AlertBody(
        alert_id=alert_id, action=action, cover=cover,
        captions={Language.VI: "Cửa khẩu tạm đóng", Language.EN: "Border gate closed", Language.KM: "ច្រកបិទ"},
        screen_ids=tuple(sorted(screen_ids)), version=version,
        issued_at=now, expires_at=now + timedelta(seconds=ttl_s),
    )
    return sign_envelope(EnvelopeKind.ALERT, body, key).to_json()


def enrol_state(state_dir: Path, screen_id: str, *, broker_url: str = "mqtt://127.0.0.1:9",
                username: str = "u", password: str = "p",  # noqa: S107 - unreachable test broker
                groups: tuple[str, ...] = ()) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    pk = SERVER_KEY.public_key
    StateStore(state_dir / "state.json").enrol(
        screen_id=screen_id, broker_url=broker_url, broker_username=username, broker_password=password,
        pinned_keys=(pk.base64,), groups=groups,
    )
    save_trust(state_dir, TrustStore.of(pk))
    save_identity(state_dir, Identity(screen_id=screen_id, name=screen_id, groups=groups,
                                      fingerprint=pk.fingerprint, key_id=pk.key_id))


def settings_for(state_dir: Path, **extra: object) -> PlayerSettings:
    fields: dict[str, object] = {
        "state_dir": state_dir,
        "output": OutputKind.PNG,
        "png": PngOptions(path=state_dir / "screen.png"),
        "screenshot": ScreenshotOptions(period_s=0),
        "heartbeat_period_s": 1,
        **extra,
    }
    return PlayerSettings(**fields)  # type: ignore[arg-type]


class Clock:
    """A wall clock the test sets; an agent built with it also reads its monotonic time from it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


class Frames:
    """An output keeping every frame it was handed."""

    def __init__(self) -> None:
        self.frames: list[Image.Image] = []

    def show(self, frame: Image.Image) -> None:
        self.frames.append(frame.copy())

    def blank(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Store:
    """The test server's content-addressed assets and the rule its chunk server is given."""

    root: Path
    allowed: dict[str, set[str]] = field(default_factory=dict)
    replies: list[tuple[str, ChunkHeader]] = field(default_factory=list)
    delay_s: float = 0.0  # per reply: a slow link
    on_serve: list[Callable[[ChunkHeader], object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, data: bytes, *, serve: bytes | None = None) -> str:
        """Store `data` under its hash; `serve` puts other bytes behind that name (a swapped copy)."""
        sha = hashlib.sha256(data).hexdigest()
        (self.root / sha).write_bytes(data if serve is None else serve)
        return sha

    def path_for(self, sha: str) -> Path | None:
        path = self.root / sha
        return path if path.exists() else None

    def may_fetch(self, screen: str, sha: str) -> bool:
        return sha in self.allowed.get(screen, set())

    def record(self, screen: str, header: ChunkHeader) -> None:
        with self.lock:
            self.replies.append((screen, header))
        for hook in list(self.on_serve):
            hook(header)
        if self.delay_s:
            time.sleep(self.delay_s)

    def sent(self) -> list[ChunkHeader]:
        with self.lock:
            return [h for _, h in self.replies]


@dataclass
class Running:
    """An agent playing in a thread of the test process."""

    agent: Agent
    thread: threading.Thread
    shown: list[tuple[float, Image.Image]] = field(default_factory=list)

    def stop(self) -> None:
        self.agent.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "agent did not stop"


class RecordingPng(PngOutput):
    """PNG output that also remembers when each frame was shown (alert latency)."""

    def __init__(self, path: Path, sink: list[tuple[float, Image.Image]]) -> None:
        super().__init__(path)
        self.sink = sink

    def show(self, frame: Image.Image) -> None:
        super().show(frame)
        self.sink.append((time.monotonic(), frame))


def start_agent(settings: PlayerSettings, **kwargs: object) -> Running:
    shown: list[tuple[float, Image.Image]] = []
    agent = Agent(settings, RecordingPng(settings.png_path, shown), **kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    return Running(agent, thread, shown)


def now_utc() -> datetime:
    return datetime.now(UTC)
