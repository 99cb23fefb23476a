"""The running player: offline-first playback of the last verified manifest, updates, alerts and telemetry.

Threads: MQTT callbacks only enqueue work; one main loop does everything else and sleeps until the
next boundary (item end, rotation step, ticker frame, on/off hours, alert expiry, heartbeat), so a
static slide costs nothing between changes. Asset downloads run in a worker thread and hand the
finished manifest back to the main loop, which switches atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

from player_agent.alerts import AlertBoard
from player_agent.brightness import BrightnessControl
from player_agent.cache import AssetCache, CacheError, DiskFull
from player_agent.choice import NEVER, Choice, choose
from player_agent.config import PlayerSettings
from player_agent.enrol import (
    IDENTITY_FILE,
    TRUST_FILE,
    Identity,
    read_identity,
    read_trust,
    rebuild_identity,
    rebuild_state,
    save_identity,
    save_trust,
)
from player_agent.fsutil import Kept, atomic_write_bytes, last_good_path, read_kept, write_kept
from player_agent.health import disk_free_bytes, read_cpu_temperature
from player_agent.journal import (
    Checkpoint,
    Journal,
    JournalError,
    LanguageSegment,
    PlayRecord,
    new_play_id,
)
from player_agent.outbox import PlayOutbox
from player_agent.output.base import Output
from player_agent.scenes import RenderCache, Scene, Shown, ZonedScene, waiting_card
from player_agent.screenshot import thumbnail_jpeg
from player_agent.state import NotEnrolled, StaleUpdate, StateError, StateStore
from player_agent.transport import (
    AssetCorrupt,
    AssetFetcher,
    AssetFetchError,
    Backoff,
    PlayerLink,
    broker_params,
)
from player_agent.watchdog import Notifier, watchdog_interval
from signage_core.brightness import Level, LevelSource, level_at
from signage_core.feeds import FeedBody, Reading, verify_feed
from signage_core.languages import Language
from signage_core.manifest import ManifestBody, Slide, verify_manifest
from signage_core.mqtt_client import BrokerTlsError
from signage_core.protocol import (
    MAX_CHUNK_SIZE,
    AlertBody,
    CommandBody,
    CommandKind,
    Heartbeat,
    KeyHandoverChain,
    PlayLogAck,
    ProtocolError,
    ScreenshotHeader,
    TopicKind,
    decode,
    encode,
    encode_frame,
)
from signage_core.render import CaptionError, ScreenSpec, frame_hash
from signage_core.render.fonts import FontRegistry
from signage_core.screen import ZonedSpecs, alert_spec, screen_spec, zoned_specs
from signage_core.signing import (
    DEFAULT_CLOCK_SKEW,
    Envelope,
    EnvelopeKind,
    PublicKey,
    Rejection,
    TrustStore,
    VerificationError,
    body_as,
    verify_envelope,
)

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
MANIFEST_FILE = "manifest.json"
FEED_FILE = "feed.json"  # the last verified feed message, so the strip has its values after an offline restart
STATUS_FILE = "status.json"
FETCH_RETRY_S = 2.0
FETCH_RETRY_CAP_S = 300.0
SPACE_POLL_S = 5.0
# Left free after a download: the journal and state files must still be writable.
DOWNLOAD_HEADROOM_BYTES = 8 * 1024 * 1024
CORRUPT_RETRIES = 2
# How often the item on screen is checkpointed: a crash costs its record at most this much airtime.
CHECKPOINT_S = 1.0
# Wall clock moving this much more (or less) than the monotonic clock during an item is a clock jump.
CLOCK_JUMP_TOLERANCE_MS = 1000
FUTURE_RECHECK_S = 60.0


@dataclass(slots=True)
class Current:
    """The scene on screen now, and what the play record for it will say."""

    identity: tuple[object, ...]
    scene: Scene | ZonedScene | None  # None: blanked
    slide_id: str | None  # set for manifest items (those get play records)
    shown_from: datetime
    playlist_id: str | None = None
    language: Language | None = None
    frame_hash: Callable[[], str] | None = None
    image: Image.Image | None = None
    frame_id: object = None
    alert_id: str | None = None
    manifest_version: int = 0  # the manifest this item is played from
    shown_mono: float = 0.0  # monotonic clock at shown_from: durations never follow the wall clock
    record: PlayRecord | None = None  # the open record, once the first frame is up
    journaled: bool = False  # the open record is on disk
    # (language, monotonic from, monotonic to or None while on screen): the language segments of the record.
    segments: list[list[Any]] | None = None


class Agent:
    """Ties state, cache, journal, link, renderer and output together; `run` blocks until `stop`."""

    def __init__(
        self,
        settings: PlayerSettings,
        output: Output,
        *,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        notifier: Notifier | None = None,
        registry: FontRegistry | None = None,
        link_factory: Callable[[], PlayerLink | None] | None = None,
        brightness: BrightnessControl | None = None,
    ) -> None:
        self.settings = settings
        self.output = output
        self.clock = clock or _utc_now
        # Play durations: the real monotonic clock, or a test's fake wall clock read as seconds.
        fake = clock
        self.monotonic = monotonic or (time.monotonic if fake is None else lambda: fake().timestamp())
        self.notifier = notifier or Notifier.from_environ()
        self._watchdog_s = watchdog_interval()
        self.state_dir = settings.state_dir
        # Damaged or missing state files, found at start-up and kept until fixed: heartbeat and status.
        self.problems: dict[str, str] = {}
        self.state = StateStore(settings.state_file, rebuild=lambda: rebuild_state(self.state_dir))
        if not self.state.state.enrolled:
            raise NotEnrolled("this player is not enrolled yet (run `signage-player enroll`)")
        self.screen_id: str = self.state.state.screen_id or ""
        self._keep_state()
        self.identity: Identity | None = self._load_identity()
        self.trust = self._load_trust()
        self.cache = AssetCache(settings.cache_dir)
        self.journal = Journal(settings.journal_dir)
        self.renders = RenderCache(registry)
        self.brightness = brightness or BrightnessControl(settings.brightness)
        self.level: Level | None = None  # the brightness level in force (heartbeat), None: no control
        self._shown_percent: int | None = None  # the software-dimming level of the frame on the output
        # (inputs, evaluated at, level): reused while the inputs stay and `now` is before the level's `until`.
        self._level_cache: tuple[tuple[object, ...], datetime, Level] | None = None
        self._inbox: queue.Queue[Callable[[], None]] = queue.Queue()
        self._stop = threading.Event()
        self.exit_code = 0
        self.started_mono = time.monotonic()
        self.manifest: ManifestBody | None = None
        self.manifest_raw: bytes | None = None
        self.alerts = AlertBoard(self.state_dir, self.screen_id)
        self.readings: dict[str, Reading] = {}  # the strip's feed values, from the last verified feed message
        self._feed_version: int | None = None
        self._feed_raw: bytes | None = None  # that message as received: the broker's retained copy is not news
        # The ticker zone's message now: (manifest version, index in the ticker playlist, started at).
        self._ticker: tuple[int, int, datetime] | None = None
        self.current: Current | None = None
        self.last_error: str | None = None
        self._link_problem: str | None = None
        self.last_contact: datetime | None = None
        self.clock_offset_s = self.identity.clock_offset_s if self.identity else None
        self.identify_until: datetime | None = None
        self._images: dict[str, Image.Image] = {}
        self._pending_version = 0  # newest manifest being prepared (downloads in the worker)
        # Signed by a key we do not trust yet: retried when a hand-over changes the trust store.
        self._held_manifest: bytes | None = None
        # Refused as not yet valid (our clock was slow): re-checked as time passes, never dropped.
        self._future_manifest: bytes | None = None
        self._future_at = NEVER  # wall instant it becomes valid by our clock
        self._future_mono = 0.0  # and a monotonic re-check, for a clock that jumps
        self.outbox = PlayOutbox(self.journal, self.screen_id, error=self._error)
        self._next_checkpoint = 0.0
        self._now_mono = self.monotonic()  # the monotonic reading taken with the current tick's `now`
        self._next_heartbeat = 0.0
        self._next_thumbnail = time.monotonic() + settings.screenshot.period_s
        self._next_pet = 0.0
        self._worker: threading.Thread | None = None
        self._repairer: threading.Thread | None = None
        self._free_bytes: Callable[[], int] = lambda: disk_free_bytes(settings.cache_dir)
        self._link_factory = link_factory
        self.link: PlayerLink | None = None
        self.fetcher: AssetFetcher | None = None
        self._load_manifest()
        self._load_alerts()
        self._load_feed()

    # -- start-up from disk ------------------------------------------------------------------
    def _keep_state(self) -> None:
        if self.state.problem is not None:
            self._problem("state", self.state.problem)
        if self.state.needs_keep():
            try:
                self.state.keep()
            except (StateError, OSError) as exc:
                self._problem("state", f"state.json cannot be rewritten: {exc}")

    def _load_identity(self) -> Identity | None:
        """identity.json, its copy, or rebuilt from the enrolment data in state.json: groups mean alerts."""
        kept = read_identity(self.state_dir, repair=True)
        identity = kept.value
        if identity is not None and identity.screen_id != self.screen_id:
            kept, identity = Kept(None, f"identity.json is for screen {identity.screen_id!r}"), None
        if identity is None:
            # Missing altogether is a problem too for an enrolled player: enrolment always writes it.
            kept = Kept(None, kept.problem or "identity.json is missing")
            st = self.state.state
            try:
                identity = rebuild_identity(st)
                save_identity(self.state_dir, identity)
            except (ValueError, OSError) as exc:
                self._problem("identity", f"{kept.problem}; cannot rebuild it: {exc}")
                return identity
            if st.groups is None:
                self._problem("identity", f"{kept.problem}; rebuilt, but the alert groups are unknown "
                                          "(enrolled before they were kept twice): re-enrol this screen")
            else:
                self._problem("identity", f"{kept.problem}; rebuilt from state.json "
                                          f"(groups: {', '.join(st.groups) or 'none'})")
            return identity
        if kept.problem is not None:
            self._problem("identity", kept.problem)
        if identity is not None:
            if self.state.state.groups is None:
                # Enrolled before groups were kept twice: keep them now, so a damaged identity can be rebuilt.
                with contextlib.suppress(StateError, OSError):
                    self.state.keep_groups(identity.groups)
            if not last_good_path(self.state_dir / IDENTITY_FILE).exists():
                with contextlib.suppress(OSError):
                    save_identity(self.state_dir, identity)
        return identity

    def _load_trust(self) -> TrustStore:
        """trust.json, its copy, or rebuilt from the keys pinned in state.json."""
        kept = read_trust(self.state_dir, repair=True)
        if kept.value is not None:
            if kept.problem is not None:
                self._problem("trust", kept.problem)
            elif not last_good_path(self.state_dir / TRUST_FILE).exists():
                with contextlib.suppress(OSError):
                    save_trust(self.state_dir, kept.value)
            return kept.value
        trust = TrustStore.of(*(PublicKey.from_base64(k) for k in self.state.state.pinned_keys))
        if kept.problem is not None:
            self._problem("trust", f"{kept.problem}; rebuilt from the keys pinned in state.json")
            with contextlib.suppress(OSError):
                save_trust(self.state_dir, trust)
        return trust

    def _parse_stored_manifest(self, raw: bytes) -> tuple[ManifestBody, bytes]:
        """A stored manifest is usable when verified, for this screen and not older than the recorded version."""
        try:
            envelope = self.trust.open(raw, expected_kind=EnvelopeKind.MANIFEST, now=self.clock())
            body = body_as(envelope, ManifestBody)
        except VerificationError as exc:
            raise ValueError(f"refused: {exc}") from exc
        if body.screen_id != self.screen_id:
            raise ValueError(f"is for screen {body.screen_id!r}")
        recorded = self.state.state.manifest_version
        if body.version < recorded:
            # A validly signed older manifest put back on disk is a rollback: never show it.
            raise ValueError(f"holds v{body.version}, older than the recorded v{recorded}: refused as a rollback")
        return body, raw

    def _load_manifest(self) -> None:
        """The last verified manifest: signature and screen re-checked, expiry not (offline for weeks is fine)."""
        kept = read_kept(self.state_dir / MANIFEST_FILE, self._parse_stored_manifest, repair=True)
        if kept.problem is not None:
            recorded = self.state.state.manifest_version
            wait = f"waiting for the server's copy of v{recorded}: " if kept.value is None and recorded else ""
            self._problem("manifest", f"{wait}{kept.problem}")
            self._error(f"stored {kept.problem}")
        if kept.value is None:
            return
        body, raw = kept.value
        self.manifest, self.manifest_raw = body, raw
        if not last_good_path(self.state_dir / MANIFEST_FILE).exists():
            with contextlib.suppress(OSError):
                write_kept(self.state_dir / MANIFEST_FILE, raw, mode=0o644)
        if body.version > self.state.state.manifest_version:
            # Written to disk just before a crash cut the version update: finish it.
            with contextlib.suppress(StaleUpdate):
                self.state.accept_manifest(body.version)

    def _load_alerts(self) -> None:
        problem = self.alerts.load(self.trust, self.clock())
        if problem is not None:
            self._problem("alerts", f"{problem}; the alert accepted last comes again from the broker")

    def _parse_stored_feed(self, raw: bytes) -> tuple[FeedBody, bytes] | None:
        """A stored feed message passes the same check as a live one; out of its validity by our clock is not damage."""
        try:
            body = verify_feed(raw, trust=self.trust, screen_id=self.screen_id, last_version=None, now=self.clock())
        except VerificationError as exc:
            if exc.reason in (Rejection.EXPIRED, Rejection.NOT_YET_VALID):
                # Kept on disk: a slow clock (flat RTC) may be set right before the next start.
                log.info("stored feed message not restored: %s", exc)
                return None
            raise ValueError(f"refused: {exc}") from exc
        return body, raw

    def _load_feed(self) -> None:
        """The strip's last values and their replay guard; each value is still hidden once past its own limit."""
        kept = read_kept(self.state_dir / FEED_FILE, self._parse_stored_feed, repair=True)
        if kept.problem is not None:
            self._problem("feed", f"{kept.problem}; the strip's values come again from the broker")
        if kept.value is None:
            return
        body, raw = kept.value
        self._feed_version, self._feed_raw, self.readings = body.version, raw, dict(body.readings)
        if not last_good_path(self.state_dir / FEED_FILE).exists():
            with contextlib.suppress(OSError):
                write_kept(self.state_dir / FEED_FILE, raw, mode=0o644)

    # -- lifecycle ---------------------------------------------------------------------------
    def _make_link(self) -> PlayerLink | None:
        if self._link_factory is not None:
            return self._link_factory()
        st = self.state.state
        if st.broker_url is None or st.broker_username is None or st.broker_password is None:
            return None
        opts = self.settings.broker
        try:
            params = broker_params(st.broker_url, ca_file=opts.ca_file, require_tls=opts.require_tls).with_credentials(
                st.broker_username, st.broker_password.get_secret_value()
            )
            groups = self.identity.groups if self.identity else ()
            return PlayerLink(params, self.screen_id, groups=groups, agent_version=AGENT_VERSION,
                              backoff=Backoff(base_s=1.0, cap_s=60.0),
                              on_problem=lambda problem: self._post(lambda: self._on_link_problem(problem)),
                              on_connected=lambda: self._post(self._on_connected))
        except (ProtocolError, BrokerTlsError) as exc:
            # Keep playing from disk; a config fix needs a restart, which `status` and the log say.
            self._error(f"broker link not started: {exc}")
            self._write_status(self.clock())
            return None

    def start(self) -> None:
        """Show something at once from disk, then go online."""
        self.tick()
        self.notifier.ready(f"playing manifest v{self.manifest.version}" if self.manifest else "waiting for content")
        self.link = self._make_link()
        if self.link is None:
            return
        self.fetcher = AssetFetcher(self.link)
        self.link.on(TopicKind.MANIFEST, lambda _t, p: self._post(lambda: self._on_manifest(p)))
        self.link.on(TopicKind.COMMAND, lambda _t, p: self._post(lambda: self._on_command(p)))
        self.link.on(TopicKind.GROUP_ALERT, lambda _t, p: self._post(lambda: self._on_alert(p)))
        self.link.on(TopicKind.PLAYLOG_ACK, lambda _t, p: self._post(lambda: self._on_playlog_ack(p)))
        self.link.on(TopicKind.KEY_HANDOVERS, lambda _t, p: self._post(lambda: self._on_key_chain(p)))
        self.link.on(TopicKind.FEED, lambda _t, p: self._post(lambda: self._on_feed(p)))
        self.link.start()
        self._repair_assets()  # a cache wiped or damaged while we were off

    def run(self) -> int:
        """Play until stopped; returns the process exit code."""
        self.start()
        try:
            while not self._stop.is_set():
                try:
                    wake = self.tick()
                except Exception as exc:  # keep playing what is on screen; systemd's watchdog catches hangs
                    log.exception("playback step failed")
                    self._error(f"playback step failed: {exc}")
                    wake = self.clock() + timedelta(seconds=1)
                self._wait_until(wake)
        finally:
            self.close()
        return self.exit_code

    def stop(self, exit_code: int = 0) -> None:
        self.exit_code = exit_code
        self._stop.set()
        self._post(lambda: None)

    def close(self) -> None:
        """Record the item on screen, say offline, release files."""
        now = self.clock()
        self._now_mono = self.monotonic()
        self._finish_current(now)
        self.notifier.stopping()
        if self.link is not None:
            self.link.stop(timeout_s=2.0)
        for worker in (self._worker, self._repairer):
            if worker is not None:
                worker.join(timeout=2.0)
        self._write_status(now)
        self.journal.close()
        self.cache.close()
        with contextlib.suppress(Exception):
            self.output.close()

    def _post(self, task: Callable[[], None]) -> None:
        self._inbox.put(task)

    def _wait_until(self, wake: datetime) -> None:
        """Sleep until the boundary, waking early only to run work the network handed us."""
        left = max((wake - self.clock()).total_seconds(), 0.0)
        try:
            task = self._inbox.get(timeout=left)
        except queue.Empty:
            return
        while True:
            try:
                task()
            except Exception as exc:  # one bad message must not stop playback
                log.exception("task failed")
                self._error(f"internal error: {exc}")
            try:
                task = self._inbox.get_nowait()
            except queue.Empty:
                return

    # -- the playback step -------------------------------------------------------------------
    def tick(self) -> datetime:
        """Put the right frame on screen for now; returns when to look again."""
        now = self.clock()
        self._now_mono = self.monotonic()  # read with `now`: an item's wall and monotonic start are one instant
        self.alerts.expire(now)
        wake = self._show(now)
        mono = time.monotonic()
        if mono >= self._next_heartbeat:
            self._heartbeat(now)
            self._next_heartbeat = mono + self.settings.heartbeat_period_s
        if self.settings.screenshot.period_s > 0 and mono >= self._next_thumbnail:
            self._send_screenshot("thumbnail", thumbnail=True)
            self._next_thumbnail = mono + self.settings.screenshot.period_s
        if self._watchdog_s is not None and mono >= self._next_pet:
            self.notifier.watchdog()
            self._next_pet = mono + self._watchdog_s
        resend_at = self.outbox.resend_at()
        if resend_at is not None and mono > resend_at and self.link is not None and self.link.connected.is_set():
            self.outbox.forget_sent()
            self._flush_playlog()
        if self._future_manifest is not None and (now >= self._future_at or mono >= self._future_mono):
            held, self._future_manifest = self._future_manifest, None
            self._on_manifest(held)
        timers = [self._next_heartbeat]
        if self._future_manifest is not None:
            timers.append(self._future_mono)
            wake = min(wake, self._future_at)
        if self.settings.screenshot.period_s > 0:
            timers.append(self._next_thumbnail)
        if self._watchdog_s is not None:
            timers.append(self._next_pet)
        resend_at = self.outbox.resend_at()
        if resend_at is not None:
            timers.append(resend_at)
        soonest = min(timers) - mono
        cur = self.current
        if cur is not None and cur.journaled:
            self._checkpoint(cur)
            soonest = min(soonest, CHECKPOINT_S)  # about once a second: what a crash may cost this record
        return min(wake, now + timedelta(seconds=max(soonest, 0.0)))

    def _show(self, now: datetime) -> datetime:
        choice = choose(self.manifest, (a.body for a in self.alerts), self.identify_until, now)
        boundaries = list(choice.boundaries)
        scene = self._scene(choice, now, boundaries)
        identity, slide_id, alert_id, playlist_id = choice.identity, choice.slide_id, choice.alert_id, choice.playlist_id
        cur = self.current
        if cur is None or cur.identity != identity:
            self._finish_current(now)
            cur = self.current = Current(identity, scene, slide_id, now, playlist_id=playlist_id,
                                         alert_id=alert_id, shown_mono=self._now_mono,
                                         manifest_version=self.manifest.version if self.manifest else 0)
            if scene is None:
                self._set_blank(True)
                cur.image = None
                self.level = None  # blanked for off-hours: no level to report until it lights again
                self.brightness.forget()  # a panel powered down may wake at its own level: send ours again
                self._write_status(now)
                return min(boundaries, default=now + timedelta(hours=1))
            self._set_blank(False)
            self._write_status(now)
        elif isinstance(scene, ZonedScene):
            cur.scene = scene  # same main item; the ticker zone may have moved to its next message
        if cur.scene is None:
            return min(boundaries, default=now + timedelta(hours=1))
        level = self._level(now, alert=alert_id is not None, boundaries=boundaries)
        try:
            shown = self._frame(cur.scene, now)
        except Exception as exc:  # a slide that cannot be drawn must not stop the screen
            self._error(f"cannot draw {cur.scene.key}: {exc}")
            log.exception("render failed")
            return min(boundaries, default=now + timedelta(minutes=1))
        if cur.frame_id is None or shown.frame_id != cur.frame_id:
            self._output(shown.image, level, shown.dimmed)
            cur.image, cur.frame_id = shown.image, shown.frame_id
            if cur.frame_hash is None:
                cur.frame_hash = shown.hash_of
            cur.language = shown.language
            if cur.slide_id is not None:
                self._track_languages(cur, shown.languages)
            if alert_id is not None:
                self._ack_alert(alert_id, shown, now)
        elif self.brightness.software and level is not None and level.percent != self._shown_percent:
            self._output(shown.image, level, shown.dimmed)  # same frame, new level: dim it again
        if shown.next_change is not None:
            boundaries.append(shown.next_change)
        return min(boundaries, default=now + timedelta(hours=1))

    def _output(self, image: Image.Image, level: Level | None,
                dimmed: Callable[[int], Image.Image] | None = None) -> None:
        """Put a frame on the output, dimmed when the player dims; proof of play hashes the undimmed frame."""
        self.output.show(self.brightness.frame(image, level, dimmed))
        self._shown_percent = level.percent if level is not None and self.brightness.software else None

    def _level(self, now: datetime, *, alert: bool, boundaries: list[datetime]) -> Level | None:
        """The brightness level in force (alert, override, sensor, plan) and handed to the controller."""
        plan = self.manifest.brightness if self.manifest is not None else None
        sensed = self.brightness.sensor(self._now_mono)
        period = timedelta(seconds=self.settings.brightness.sensor_period_s)
        key = (plan, alert, sensed)
        level: Level | None
        cached = self._level_cache
        if cached is not None and cached[0] == key and cached[1] <= now < cached[2].until:
            level = cached[2]  # a ticker asks 60 times a second; the level holds until its `until`
        else:
            if plan is not None:
                level = level_at(plan, now, alert=alert, sensor_percent=sensed)
            elif sensed is not None:  # a sensor works without a plan; an alert is then at full level
                level = (Level(100, LevelSource.ALERT, now + period) if alert
                         else Level(sensed, LevelSource.SENSOR, now + period))
            else:
                level = None
            self._level_cache = (key, now, level) if level is not None else None
        if level is not None:
            boundaries.append(level.until)
            if self.settings.brightness.sensor_command:
                boundaries.append(now + period)
        self.level = level
        self.brightness.apply(level, self._now_mono)
        self._problem("brightness", self.brightness.error)
        self._problem("light-sensor", self.brightness.sensor_error)
        return level

    def _frame(self, scene: Scene | ZonedScene, now: datetime) -> Shown:
        if isinstance(scene, ZonedScene):
            return scene.frame_at(self.renders, now)
        try:
            return scene.frame_at(self.renders, now)
        except CaptionError as exc:
            if scene.spec.layout == "ticker":
                raise
            # Too much text for a stacked frame on this screen: scroll it instead of showing nothing.
            self._error(f"{scene.key} does not fit stacked, scrolling it: {exc}")
            spec = scene.spec.model_copy(update={"layout": "ticker"})
            fallback = Scene(scene.key, spec, scene.captions, None, scene.started_at, scene.duration_ms,
                             self.settings.ticker_fps, self.settings.ticker_speed_px_s)
            return fallback.frame_at(self.renders, now)

    def _scene(self, choice: Choice, now: datetime, boundaries: list[datetime]) -> Scene | ZonedScene | None:
        """The scene for what `choose` decided (None: blanked); zoned scenes add their ticker's boundaries."""
        s = self.settings
        manifest = self.manifest
        layout = manifest.layout if manifest else None
        name = self.identity.name if self.identity else self.screen_id
        if choice.kind == "identify":
            spec, captions = waiting_card(layout, name, width=s.window.width, height=s.window.height)
            captions = {Language.VI: name, Language.EN: self.screen_id}
            return Scene("identify", spec, captions, None, now, 8000, s.ticker_fps, s.ticker_speed_px_s)
        if choice.alert is not None:
            alert = choice.alert
            if manifest is None:
                spec, _ = waiting_card(None, name, width=s.window.width, height=s.window.height)
                red = ScreenSpec(width=spec.width, height=spec.height, background=(170, 0, 0))
                return Scene(f"alert:{alert.alert_id}", red, alert.captions, None, now, 8000,
                             s.ticker_fps, s.ticker_speed_px_s)
            if manifest.zones is not None and alert.cover == "main":
                zoned = zoned_specs(manifest.layout, manifest.zones)
                main_size = (zoned.rects.main.width, zoned.rects.main.height)
                main = Scene(f"alert:{alert.alert_id}", alert_spec(manifest.layout, main_size), alert.captions,
                             None, alert.issued_at, 8000, s.ticker_fps, s.ticker_speed_px_s)
                return self._zoned(manifest, zoned, main, None, now, boundaries)
            return Scene(f"alert:{alert.alert_id}", alert_spec(manifest.layout), alert.captions, None,
                         alert.issued_at, 8000, s.ticker_fps, s.ticker_speed_px_s)
        if choice.kind == "waiting":
            spec, captions = waiting_card(None, name, width=s.window.width, height=s.window.height)
            return Scene("waiting", spec, captions, None, now, 8000, s.ticker_fps, s.ticker_speed_px_s)
        np, started = choice.playing, choice.started_at
        if choice.kind == "off" or manifest is None or np is None or started is None:
            return None
        image = self._image(np.slide.image) if np.slide.image else None
        if manifest.zones is not None:
            zoned = zoned_specs(manifest.layout, manifest.zones)
            main = Scene(f"slide:{np.slide.id}", zoned.main, np.slide.captions, image, started,
                         np.item.duration_ms, s.ticker_fps, s.ticker_speed_px_s)
            return self._zoned(manifest, zoned, main, np.slide, now, boundaries)
        return Scene(f"slide:{np.slide.id}", screen_spec(manifest.layout), np.slide.captions, image, started,
                     np.item.duration_ms, s.ticker_fps, s.ticker_speed_px_s)

    def _zoned(self, manifest: ManifestBody, zoned: ZonedSpecs, main: Scene, slide: Slide | None,
               now: datetime, boundaries: list[datetime]) -> ZonedScene:
        """The main zone's scene with the strip and the ticker of this manifest's zone template around it."""
        zones = manifest.zones
        assert zones is not None  # noqa: S101 - only called for zoned manifests
        ticker = self._ticker_scene(manifest, zoned, slide, main.started_at, now, boundaries)
        return ZonedScene(main.key, zoned, main, ticker, zones.widgets, lambda: self.readings, self._frame)

    def _ticker_scene(self, manifest: ManifestBody, zoned: ZonedSpecs, slide: Slide | None, started: datetime,
                      now: datetime, boundaries: list[datetime]) -> Scene | None:
        """The ticker zone's message: the ticker playlist's, each shown for one whole pass (at least its
        duration), or else the main slide's captions; a finished message is journaled as a ticker play."""
        s = self.settings
        zones = manifest.zones
        if zoned.ticker is None or zones is None:
            return None
        if zones.ticker_playlist is None:
            if slide is None:
                return None  # an alert covers the main zone and there is no ticker playlist: the strip stays
            return Scene(f"ticker:{slide.id}", zoned.ticker, slide.captions, None, started, 8000,
                         s.ticker_fps, s.ticker_speed_px_s)
        items = manifest.playlists[zones.ticker_playlist].items
        state = self._ticker
        if state is None or state[0] != manifest.version or state[1] >= len(items):
            state = self._ticker = (manifest.version, 0, now)
        while True:
            _, index, begun = state
            item = items[index]
            shown = manifest.slides[item.slide_id]
            scene = Scene(f"ticker:{shown.id}", zoned.ticker, shown.captions, None, begun, item.duration_ms,
                          s.ticker_fps, s.ticker_speed_px_s)
            strip = self.renders.strip(scene.key, scene.spec, scene.captions)
            one_pass = timedelta(seconds=strip.period / s.ticker_speed_px_s)
            end = begun + max(one_pass, timedelta(milliseconds=item.duration_ms))
            if now < end:
                boundaries.append(end)
                return scene
            self._ticker_played(manifest, zones.ticker_playlist, scene, begun, end, strip.image)
            state = self._ticker = (manifest.version, (index + 1) % len(items), end if now - end < one_pass else now)

    def _ticker_played(self, manifest: ManifestBody, playlist_id: str, scene: Scene, begun: datetime,
                       end: datetime, strip: Image.Image) -> None:
        """Proof of play for the ticker zone: one closed record per message pass, every language for all of it."""
        slide_id = scene.key.removeprefix("ticker:")
        duration = max((end - begun) // timedelta(milliseconds=1), 0)
        segments = tuple(LanguageSegment(language=lang, offset_ms=0, duration_ms=duration)
                         for lang in scene.shown_languages())
        record = PlayRecord(id=new_play_id(), slide_id=slide_id, playlist_id=playlist_id, zone="ticker",
                            manifest_version=manifest.version, started_at=begun, duration_ms=duration,
                            segments=segments, frame_hash=frame_hash(strip), state="closed")
        try:
            self.journal.append(record)
        except JournalError as exc:
            self.outbox.hold(record)
            self.outbox.journal_failed(exc)

    def _image(self, sha: str) -> Image.Image | None:
        hit = self._images.get(sha)
        if hit is None:
            try:
                data = self.cache.read_verified(sha)
                with Image.open(io.BytesIO(data)) as img:
                    hit = img.convert("RGB")
            except (CacheError, OSError) as exc:
                self._error(f"slide image {sha} unusable: {exc}")
                self._repair_assets()
                return None
            self._images[sha] = hit
        return hit

    def _set_blank(self, blank: bool) -> None:
        setter = getattr(self.output, "set_blank", None)
        if setter is not None:
            setter(blank)
        elif blank:
            self.output.blank()

    # -- proof of play -----------------------------------------------------------------------
    def _track_languages(self, cur: Current, languages: tuple[Language, ...]) -> None:
        """A new frame is up: end the segments of languages it dropped, start those it shows; open the record."""
        mono = self.monotonic()
        if cur.segments is None:
            # The item's first frame counts from the item's start: drawing it is the player's latency (ms).
            mono = cur.shown_mono
            cur.segments = []
        showing = {seg[0] for seg in cur.segments if seg[2] is None}
        for seg in cur.segments:
            if seg[2] is None and seg[0] not in languages:
                seg[2] = mono
        cur.segments.extend([lang, mono, None] for lang in languages if lang not in showing)
        if cur.record is None and cur.slide_id is not None and cur.frame_hash is not None:
            cur.record = PlayRecord(
                id=new_play_id(), slide_id=cur.slide_id, playlist_id=cur.playlist_id,
                manifest_version=cur.manifest_version, started_at=cur.shown_from, frame_hash=cur.frame_hash(),
                state="open")
            try:
                self.journal.open_play(cur.record)
                cur.journaled = True
            except JournalError as exc:
                self.outbox.journal_failed(exc)
            self._checkpoint(cur, force=True)

    def _segments(self, cur: Current, upto: float) -> tuple[int, tuple[LanguageSegment, ...]]:
        """The play's monotonic length so far and each language's time on screen within it."""
        total = max(round((upto - cur.shown_mono) * 1000), 0)
        out = []
        for language, begin, end in cur.segments or ():
            offset = min(max(round((begin - cur.shown_mono) * 1000), 0), total)
            stop = min(max(round(((upto if end is None else end) - cur.shown_mono) * 1000), offset), total)
            if stop > offset:
                out.append(LanguageSegment(language=language, offset_ms=offset, duration_ms=stop - offset))
        return total, tuple(out)

    def _checkpoint(self, cur: Current | None, *, force: bool = False) -> None:
        mono = self.monotonic()
        if cur is None or cur.record is None or not cur.journaled or (not force and mono < self._next_checkpoint):
            return
        duration, segments = self._segments(cur, mono)
        self.journal.checkpoint(Checkpoint(id=cur.record.id, duration_ms=duration, segments=segments))
        self._next_checkpoint = mono + CHECKPOINT_S

    def _finish_current(self, now: datetime) -> None:
        """Close the item's record: monotonic duration, language segments, and any wall-clock jump beside them."""
        cur = self.current
        self.current = None
        if cur is None or cur.record is None:
            return
        mono = self._now_mono
        measured = max(round((mono - cur.shown_mono) * 1000), 0)
        wall_ms = (now - cur.shown_from) // timedelta(milliseconds=1)
        jump = wall_ms - measured if abs(wall_ms - measured) > CLOCK_JUMP_TOLERANCE_MS else 0
        # Without a jump the two clocks agree to the tolerance: end at `now`, where the next item starts, so
        # records never overlap; with one, the monotonic length is the airtime and the jump is noted beside it.
        end = mono if jump else cur.shown_mono + wall_ms / 1000
        duration, segments = self._segments(cur, end)
        record = cur.record.model_copy(update={
            "state": "closed" if duration > 0 else "void", "duration_ms": duration, "segments": segments,
            "clock_jump_ms": jump})
        if jump:
            log.warning("clock jumped %+d ms during play %s: recorded, not counted as airtime", jump, record.id)
        if record.state == "void" and not cur.journaled:
            return  # never on disk, never on screen for a measurable time: nothing to say
        try:
            if cur.journaled:
                self.journal.close_play(record)
            elif record.state == "closed":
                self.journal.append(record)
            self.outbox.stored()
        except JournalError as exc:
            if record.state == "closed":
                self.outbox.hold(record)
            self.outbox.journal_failed(exc)
        self._flush_playlog()

    def _flush_playlog(self) -> None:
        link = self.link
        if link is not None and link.connected.is_set():
            self.outbox.flush(lambda batch: link.publish(TopicKind.PLAYLOG, encode(batch)))

    def _on_playlog_ack(self, payload: bytes) -> None:
        self.outbox.acknowledge(decode(PlayLogAck, payload))
        self._flush_playlog()

    # -- network events ----------------------------------------------------------------------
    def _on_connected(self) -> None:
        self.last_contact = self.clock()
        self.outbox.forget_sent()  # a new session: unacknowledged batches are sent again
        self._flush_playlog()
        self._next_heartbeat = 0.0

    def _on_link_problem(self, problem: str | None) -> None:
        """A TLS or account refusal is the last error `status` shows; the next clean connect clears it."""
        if problem is None:
            if self.last_error is not None and self.last_error == self._link_problem:
                self.last_error = None
        else:
            self.last_error = problem[:500]  # the link has logged it
        self._link_problem = problem[:500] if problem else None
        self._write_status(self.clock())

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        self.last_error = message[:500]

    def _problem_later(self, source: str, message: str | None) -> None:
        """_problem from a worker thread: the main loop owns `problems`."""
        self._post(lambda: self._problem(source, message))

    def _problem(self, source: str, message: str | None) -> None:
        """A lasting condition (damaged file, disk full, held manifest) shown until it is cleared."""
        if message is None:
            if self.problems.pop(source, None) is not None:
                log.info("%s: problem cleared", source)
            return
        if self.problems.get(source) != message:
            log.warning("%s: %s", source, message)
        self.problems[source] = message[:300]

    def _on_manifest(self, payload: bytes) -> None:
        self.last_contact = self.clock()
        if not payload:
            return  # retained slot cleared by the server
        recorded = self.state.state.manifest_version
        # The recorded version is accepted again while we do not hold it (stored copy gone, damaged or rolled back).
        floor = recorded if self.manifest is not None and self.manifest.version >= recorded else recorded - 1
        last = max(floor, self._pending_version)
        try:
            body = verify_manifest(payload, trust=self.trust, screen_id=self.screen_id, last_version=last,
                                   now=self.clock())
        except VerificationError as exc:
            if self.manifest is not None and self.manifest_raw is not None and _same_envelope(payload, self.manifest_raw):
                return  # our active manifest, re-delivered because it is retained
            if exc.reason is Rejection.STALE_VERSION and self._pending_version and last == self._pending_version:
                return  # the one being downloaded, delivered again on reconnect
            if exc.reason is Rejection.NOT_YET_VALID:
                self._hold_future(payload, str(exc))
                return
            if exc.reason is Rejection.UNKNOWN_KEY:
                # The hand-over chain may arrive after the manifest on reconnect: try again when it does.
                self._held_manifest = payload
            self._error(f"manifest refused: {exc}")
            return
        self._held_manifest = None
        if self._future_manifest is None:
            self._problem("future", None)
        self._pending_version = body.version
        worker = threading.Thread(target=self._prepare, args=(payload, body), name="assets", daemon=True)
        self._worker = worker
        worker.start()

    def _prepare(self, payload: bytes, body: ManifestBody) -> None:
        """Worker: make every asset present and hash-checked, then hand the manifest to the main loop."""
        version = body.version
        if self._fetch_assets(body, lambda: self._pending_version == version, f"manifest v{version}",
                              give_up_corrupt=True):
            self._post(lambda: self._activate(payload, body))

    def _repair_assets(self) -> None:
        """Fetch again, in the background, the active manifest's assets that are missing or were corrupt."""
        body = self.manifest
        if body is None or (self._repairer is not None and self._repairer.is_alive()):
            return
        if not self.cache.missing(body.assets):
            return

        def repair() -> None:
            if self._fetch_assets(body, lambda: self.manifest is body, f"active manifest v{body.version}"):
                self._post(lambda: self._assets_repaired(body))

        self._repairer = threading.Thread(target=repair, name="asset-repair", daemon=True)
        self._repairer.start()

    def _assets_repaired(self, body: ManifestBody) -> None:
        if self.manifest is not body:
            return
        log.info("assets of manifest v%d complete again", body.version)
        self._images.clear()
        self.renders.clear()  # frames drawn without the missing picture
        cur = self.current
        if cur is not None and cur.scene is not None and cur.slide_id is not None:
            slide = body.slides.get(cur.slide_id)
            image = self._image(slide.image) if slide is not None and slide.image else None
            if image is not None:
                if isinstance(cur.scene, ZonedScene):  # the picture is the main zone's
                    main = dataclasses.replace(cur.scene.main, image=image)
                    cur.scene = dataclasses.replace(cur.scene, main=main)
                else:
                    cur.scene = dataclasses.replace(cur.scene, image=image)
                cur.frame_id, cur.language, cur.frame_hash = None, None, None  # redrawn at the next tick
                self._post(lambda: None)

    def _fetch_assets(self, body: ManifestBody, wanted: Callable[[], bool], what: str, *,
                      give_up_corrupt: bool = False) -> bool:
        """Worker: fetch every missing asset of `body`; True once all are present and hash-checked.

        It never dies: a full disk waits (reported) until space appears, any other failure is
        retried with back-off, and it stops only when `wanted()` turns false or the player stops.
        """
        backoff = Backoff(base_s=FETCH_RETRY_S, cap_s=FETCH_RETRY_CAP_S)
        corrupt = 0
        free_at_enospc: int | None = None
        while not self._stop.is_set() and wanted():
            try:
                missing = [sha for sha in body.assets if not self.cache.verify(sha)]
                if not missing:
                    self._problem_later("download", None)
                    return True
                short = self._space_short(body, missing, free_at_enospc)
                if short > 0:
                    self._problem_later("download", f"{what} waits for {_mb(short)} MB of free disk space")
                    self._stop.wait(SPACE_POLL_S)
                    continue
                fetcher = self.fetcher
                if fetcher is None:
                    if self.link is None:
                        self._problem_later("download", f"{what}: {len(missing)} asset(s) missing and no "
                                                        "broker link to fetch them")
                        return False
                    self._stop.wait(backoff.next_delay())
                    continue
                for sha in missing:
                    if self._stop.is_set() or not wanted():
                        return False
                    fetcher.fetch(sha, self.cache.partial_path(sha), expected_size=body.assets[sha].size,
                                  timeout_s=120.0)
                    self.cache.commit_partial(sha)
                free_at_enospc = None
                backoff.reset()
            except AssetCorrupt as exc:
                corrupt += 1
                if give_up_corrupt and corrupt > CORRUPT_RETRIES:
                    msg = f"{what} refused: an asset failed its hash check: {exc}"
                    self._post(lambda m=msg, v=body.version: self._give_up(v, m))  # type: ignore[misc]
                    return False
                self._stop.wait(backoff.next_delay())
            except (OSError, CacheError, AssetFetchError) as exc:
                if isinstance(exc, DiskFull) or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
                    # The estimate said it fits but the disk said no: wait until space really grows.
                    free_at_enospc = self._free_bytes()
                    log.warning("%s: disk full while downloading (%s); waiting for space", what, exc)
                    continue
                log.info("%s: assets not complete yet (%s); retrying", what, exc)
                self._stop.wait(backoff.next_delay())
            except Exception as exc:  # the download thread must never die: a restart is not a retry policy
                log.exception("%s: download step failed", what)
                self._post(lambda m=f"{what}: download step failed: {exc}": self._error(m))  # type: ignore[misc]
                self._stop.wait(backoff.next_delay())
        return False

    def _space_short(self, body: ManifestBody, missing: list[str], free_at_enospc: int | None) -> int:
        """Bytes still to free before the missing assets fit (0: go ahead); old assets go first."""
        needed = sum(max(body.assets[sha].size - self.cache.partial_size(sha), 0) for sha in missing)
        needed += DOWNLOAD_HEADROOM_BYTES

        def short() -> int:
            free = self._free_bytes()
            if free_at_enospc is not None and free <= free_at_enospc:
                return max(needed - free, 1_000_000)  # the disk said full: at least one more MB
            return max(needed - free, 0)

        if short() > 0:
            # The previous manifest's assets are kept only to make a rollback cheap: space wins.
            active = self.manifest
            keep = [set(body.assets), set(active.assets) if active is not None else set()]
            with contextlib.suppress(CacheError, OSError, ValueError):
                self.cache.gc(keep=keep)
        return short()

    def _give_up(self, version: int, message: str) -> None:
        if self._pending_version == version:
            self._pending_version = 0
        self._error(message)

    def _activate(self, payload: bytes, body: ManifestBody) -> None:
        active = self.manifest.version if self.manifest else 0
        if (self._pending_version != body.version or body.version <= active
                or body.version < self.state.state.manifest_version):
            return
        # File first: a crash before the version update still resumes this manifest after reboot.
        write_kept(self.state_dir / MANIFEST_FILE, payload, mode=0o644)
        if body.version > self.state.state.manifest_version:
            try:
                self.state.accept_manifest(body.version)
            except StateError as exc:
                self._error(f"manifest v{body.version} not recorded: {exc}")
                return
        self._problem("manifest", None)
        previous = set(self.manifest.assets) if self.manifest else set()
        try:
            # Keep the previous manifest's assets too: a rollback to it needs no download. Cleaned
            # before the switch, so whoever sees the new version active sees the cache it implies.
            self.cache.gc(keep=[set(body.assets), previous])
        except (CacheError, OSError) as exc:
            self._error(f"cache clean-up after v{body.version} failed: {exc}")
        self.manifest, self.manifest_raw = body, payload
        self._pending_version = 0
        self._images.clear()
        log.info("manifest v%d active", body.version)
        self.last_error = None if self.last_error and "manifest" in self.last_error else self.last_error

    def _hold_future(self, payload: bytes, reason: str) -> None:
        """Keep a manifest our clock says is not valid yet; tick() offers it again when that changes."""
        try:
            body = json.loads(payload)["body"]
            version, issued = int(body["version"]), datetime.fromisoformat(body["issued_at"])
        except (ValueError, KeyError, TypeError):
            version, issued = 0, self.clock()
        held_version = _version_of(self._future_manifest) if self._future_manifest is not None else -1
        if version < held_version:
            return  # keep the newest
        self._future_manifest = payload
        self._future_at = issued - DEFAULT_CLOCK_SKEW if issued.tzinfo is not None else self.clock()
        self._future_mono = time.monotonic() + FUTURE_RECHECK_S
        self._problem("future", f"manifest v{version} is not valid yet by this player's clock ({reason}); "
                                "held and checked again as time passes")

    def _on_handover(self, payload: bytes) -> None:
        """One hand-over of the retained chain (the only place the server sends them)."""
        try:
            updated = self.trust.accept_handover(payload, now=self.clock())
        except VerificationError as exc:
            self._error(f"key handover refused: {exc}")
            return
        if updated is self.trust:
            return
        save_trust(self.state_dir, updated)
        self._problem("trust", None)
        self.state.pin_keys(tuple(k.public_key for k in updated.keys.values()))
        self.trust = updated
        log.info("server key handed over; now trusting %s", sorted(updated.keys))

    def _retry_held_manifest(self) -> None:
        held, self._held_manifest = self._held_manifest, None
        if held is not None:
            self._on_manifest(held)

    def _on_key_chain(self, payload: bytes) -> None:
        """Apply, oldest first, each hand-over of the retained chain this player has not applied yet."""
        self.last_contact = self.clock()
        if not payload:
            return  # retained slot cleared
        try:
            chain = decode(KeyHandoverChain, payload)
        except ProtocolError as exc:
            self._error(f"key hand-over chain refused: {exc}")
            return
        trust_before = self.trust
        for raw in chain.handovers:
            try:
                envelope = Envelope.model_validate(raw)
                new_key_id = PublicKey.from_base64(str(envelope.body.get("new_public_key", ""))).key_id
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                self._error(f"key handover refused: malformed: {exc}")
                continue
            # Both keys trusted but the old one not retired: a trust store rebuilt from the pinned
            # keys lost its retirements, so the chain applies them again (grace periods included).
            lost_retirement = envelope.key_id in self.trust.keys and new_key_id in self.trust.keys
            if envelope.key_id in self.trust.retired or (new_key_id in self.trust.keys and not lost_retirement):
                continue  # applied before, or enrolled after it: nothing to do
            self._on_handover(envelope.to_json())
        if self.trust is not trust_before:  # once, after the whole chain: A->B alone may not be enough
            self._retry_held_manifest()

    def _on_alert(self, payload: bytes) -> None:
        self.last_contact = self.clock()
        if not payload:
            return
        now = self.clock()
        try:
            verified = verify_envelope(payload, trust=self.trust, expected_kind=EnvelopeKind.ALERT,
                                       screen_id=self.screen_id, last_version=None, now=now)
            body = body_as(verified, AlertBody)
        except VerificationError as exc:
            if exc.reason is Rejection.EXPIRED:
                log.info("expired alert ignored: %s", exc)  # a retained copy not yet cleared: not an attack
                return
            self._error(f"alert refused: {exc}")
            return
        known = self.alerts.get(body.alert_id)
        if known is not None and known.body.version == body.version and body.action == "show":
            return  # retained alert re-delivered on reconnect: keep showing it
        if known is None and body.action == "show" and body.version == self.state.state.alert_seq:
            # The alert accepted last, lost with a damaged alerts.json: the broker's retained copy puts it back.
            self.alerts.show(body, payload.decode("utf-8"))
            self._problem("alerts", None)
            return
        try:
            self.state.accept_alert(body.version)
        except StaleUpdate as exc:
            self._error(f"alert refused: {exc}")
            return
        if body.action == "withdraw":
            if self.alerts.withdraw(body.alert_id):
                log.info("alert %s withdrawn", body.alert_id)
        else:
            self.alerts.show(body, payload.decode("utf-8"))

    def _on_feed(self, payload: bytes) -> None:
        """New strip values, kept in feed.json too: a restart without network still shows the fresh ones."""
        self.last_contact = self.clock()
        if not payload or payload == self._feed_raw:
            return
        try:
            body = verify_feed(payload, trust=self.trust, screen_id=self.screen_id,
                               last_version=self._feed_version, now=self.clock())
        except VerificationError as exc:
            if exc.reason is not Rejection.EXPIRED:
                self._error(f"feed values refused: {exc}")
            return
        self._feed_version, self._feed_raw = body.version, payload
        self.readings = dict(body.readings)
        try:
            write_kept(self.state_dir / FEED_FILE, payload, mode=0o644)
        except OSError as exc:
            self._problem("feed", f"feed.json cannot be written: {exc}; the values are kept in memory only")
        else:
            self._problem("feed", None)

    def _ack_alert(self, alert_id: str, shown: Shown, now: datetime) -> None:
        link = self.link
        if link is None or not link.connected.is_set():
            return
        self.alerts.ack(alert_id, shown.hash_of, now, lambda ack: link.publish(TopicKind.ALERT_ACK, encode(ack)))

    def _on_command(self, payload: bytes) -> None:
        self.last_contact = self.clock()
        now = self.clock()
        try:
            verified = verify_envelope(payload, trust=self.trust, expected_kind=EnvelopeKind.COMMAND,
                                       screen_id=self.screen_id, last_version=self.state.state.command_seq, now=now)
            command = body_as(verified, CommandBody)
            self.state.accept_command(command.version)
        except (VerificationError, StaleUpdate) as exc:
            self._error(f"command refused: {exc}")
            return
        # Commands are not retained: they arrive as sent, so their issue time measures our clock.
        self.clock_offset_s = (now - command.issued_at).total_seconds()
        log.info("command %s (%s)", command.kind.value, command.command_id)
        if command.kind is CommandKind.SCREENSHOT:
            self._send_screenshot(command.command_id, thumbnail=False)
        elif command.kind is CommandKind.IDENTIFY:
            self.identify_until = now + timedelta(seconds=self.settings.identify_s)
        elif command.kind is CommandKind.RESYNC:
            for sha in list(self.manifest.assets if self.manifest else ()):
                self.cache.verify(sha)
            if self.link is not None:
                self.link.drop_connection()  # the retained manifest and alerts come again
        elif command.kind is CommandKind.CLEAR_CACHE:
            keep = set(self.manifest.assets) if self.manifest else set()
            self.cache.gc(keep=[keep])
            self.renders.clear()
            self._images.clear()
        elif command.kind is CommandKind.RESTART_PLAYER:
            self.stop(exit_code=75)  # systemd's Restart= brings us back; nothing runs from the network

    # -- telemetry ---------------------------------------------------------------------------
    def heartbeat(self, now: datetime) -> Heartbeat:
        cur = self.current
        stale = bool(self.manifest is not None and now >= self.manifest.horizon_end)
        try:
            free: int | None = disk_free_bytes(self.state_dir)
        except OSError:
            free = None
        return Heartbeat(
            screen_id=self.screen_id,
            sent_at=now,
            uptime_s=time.monotonic() - self.started_mono,
            clock_offset_s=self.clock_offset_s,
            manifest_version=str(self.manifest.version) if self.manifest else None,
            current_slide_id=cur.slide_id if cur else None,
            cache_bytes=self.cache.status().bytes,
            disk_free_bytes=free,
            temperature_c=read_cpu_temperature(),
            current_language=cur.language.value if cur and cur.language else None,
            frame_hash=cur.frame_hash() if cur and cur.frame_hash else None,
            stale=stale,
            last_error=self.last_error,
            problems=tuple(self.problems.values())[:16],
            brightness_percent=self.level.percent if self.level else None,
            brightness_source=self.level.source if self.level else None,
        )

    def _heartbeat(self, now: datetime) -> None:
        self._write_status(now)
        if self.link is None or not self.link.connected.is_set():
            return
        self.link.publish(TopicKind.HEARTBEAT, encode(self.heartbeat(now)))

    def _send_screenshot(self, command_id: str, *, thumbnail: bool) -> None:
        cur = self.current
        if self.link is None or not self.link.connected.is_set():
            return
        image = cur.image if cur is not None and cur.image is not None else None
        if image is None:
            image = Image.new("RGB", (self.settings.window.width, self.settings.window.height))
        opts = self.settings.screenshot
        if thumbnail:
            data = thumbnail_jpeg(image, opts)
        else:
            buf = io.BytesIO()
            image.convert("RGB").save(buf, format="JPEG", quality=opts.jpeg_quality)
            data = buf.getvalue()
            if len(data) > MAX_CHUNK_SIZE:
                data = thumbnail_jpeg(image, opts)
        header = ScreenshotHeader(command_id=command_id, taken_at=self.clock(), length=len(data))
        self.link.publish(TopicKind.SCREENSHOT, encode_frame(header, data))

    def _write_status(self, now: datetime) -> None:
        """What `signage-player status` prints, written atomically so it can read without locks."""
        cur = self.current
        status = {
            "screen_id": self.screen_id,
            "written_at": now.isoformat(),
            "manifest_version": self.manifest.version if self.manifest else None,
            "horizon_end": self.manifest.horizon_end.isoformat() if self.manifest else None,
            "stale": bool(self.manifest is not None and now >= self.manifest.horizon_end),
            "showing": (cur.identity[0] if cur else None),
            "slide_id": cur.slide_id if cur else None,
            "alert_id": cur.alert_id if cur else None,
            "since": cur.shown_from.isoformat() if cur else None,
            "connected": bool(self.link is not None and self.link.connected.is_set()),
            "last_contact": self.last_contact.isoformat() if self.last_contact else None,
            "last_error": self.last_error,
            "pending_manifest": self._pending_version or None,
            "problems": list(self.problems.values()),
            "brightness": f"{self.level.percent} % ({self.level.source.value})" if self.level else None,
        }
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.state_dir / STATUS_FILE, json.dumps(status, indent=2).encode() + b"\n", mode=0o644)


def _utc_now() -> datetime:
    return datetime.now(UTC)
def _version_of(payload: bytes) -> int:
    try:
        return int(json.loads(payload)["body"]["version"])
    except (ValueError, KeyError, TypeError):
        return 0


def _mb(n: int) -> int:
    """Whole megabytes, rounded up: "waits for 0 MB" would read as a bug."""
    return -(-n // 1_000_000)


def _same_envelope(a: bytes, b: bytes) -> bool:
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The running player's last status file, or None if it never ran."""
    try:
        data = json.loads((state_dir / STATUS_FILE).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["AGENT_VERSION", "Agent", "read_status"]
