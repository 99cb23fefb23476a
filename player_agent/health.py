"""The pieces of `signage-player check`: what a technician on site needs to know is right or wrong.

Each check returns a structured result (never raises), so the CLI can print a table and
the heartbeat can carry the same facts.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from player_agent.config import OutputKind, PlayerSettings
from player_agent.state import StateError, StateStore
from signage_core.mqtt_client import BrokerTlsError, tls_context
from signage_core.protocol import ProtocolError, TlsOptions, parse_broker_url

# The fonts the renderer ships with; each package exposes ROOT with the files under files/.
FONT_PACKAGES = ("fontpkg_be_vietnam_pro", "fontpkg_noto_sans", "fontpkg_noto_sans_khmer")
# A clock before this was never set (no RTC, no NTP yet): schedules and signatures would misfire.
CLOCK_FLOOR = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
# Khmer with COENG subscripts and a vowel: renders differently only when shaping works.
KHMER_PROBE = "\u1780\u17d2\u179a\u17bb\u1784"  # ក្រុង


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


class CheckResult(BaseModel):
    """One line of the health report."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: CheckStatus
    detail: str


def _ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, status=CheckStatus.OK, detail=detail)


def _warn(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, status=CheckStatus.WARN, detail=detail)


def _fail(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, status=CheckStatus.FAIL, detail=detail)


def default_font_paths() -> list[Path]:
    """Font files of the packaged families; a package that is not installed yields none."""
    paths: list[Path] = []
    for package in FONT_PACKAGES:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        root = Path(module.ROOT) / "files"
        paths.extend(sorted(p for p in root.glob("*") if p.suffix.lower() in {".ttf", ".otf"}))
    return paths


def check_fonts(
    paths: Sequence[Path], *, expected_families: int = len(FONT_PACKAGES)
) -> CheckResult:
    """Every font file exists and FreeType can load it."""
    from PIL import ImageFont

    if len(paths) < expected_families:
        return _fail("fonts", f"found {len(paths)} font file(s), need at least {expected_families}")
    broken: list[str] = []
    for path in paths:
        try:
            ImageFont.truetype(str(path), 12)
        except OSError as exc:
            broken.append(f"{path} ({exc})")
    if broken:
        return _fail("fonts", "cannot load " + "; ".join(broken))
    return _ok("fonts", f"{len(paths)} font file(s) load")


def check_raqm(khmer_font: Path | None = None) -> CheckResult:
    """Pillow has libraqm (HarfBuzz); with a Khmer font, also prove it shapes COENG subscripts."""
    from PIL import Image, ImageDraw, ImageFont, features

    if not features.check("raqm"):
        return _fail("raqm", "Pillow has no libraqm: Khmer would render as broken glyphs")
    version = features.version("raqm") or "?"
    if khmer_font is None:
        return _ok("raqm", f"libraqm {version}")
    images = []
    try:
        for layout in (ImageFont.Layout.BASIC, ImageFont.Layout.RAQM):
            font = ImageFont.truetype(str(khmer_font), 40, layout_engine=layout)
            image = Image.new("L", (200, 80))
            ImageDraw.Draw(image).text((5, 5), KHMER_PROBE, font=font, fill=255)
            images.append(image.tobytes())
    except OSError as exc:
        return _fail("raqm", f"cannot shape Khmer with {khmer_font}: {exc}")
    if images[0] == images[1]:
        return _fail(
            "raqm", f"libraqm {version} present but Khmer is not shaped with {khmer_font.name}"
        )
    return _ok("raqm", f"libraqm {version}, Khmer shaping works")


def check_clock(
    now: datetime,
    *,
    server_time: datetime | None = None,
    max_offset: timedelta = timedelta(seconds=30),
    not_before: datetime = CLOCK_FLOOR,
) -> CheckResult:
    """The clock was set and, when the server's time is known, agrees with it."""
    if now.tzinfo is None:
        return _fail("clock", "clock reading has no timezone")
    if now < not_before:
        return _fail(
            "clock",
            f"clock reads {now.isoformat(timespec='seconds')}: never set (no RTC/NTP); "
            "schedules and off-hours would be wrong",
        )
    if server_time is None:
        return _ok("clock", f"{now.isoformat(timespec='seconds')} (server time not known yet)")
    offset = (now - server_time).total_seconds()
    if abs(offset) > max_offset.total_seconds():
        return _warn(
            "clock",
            f"{offset:+.1f} s from the server's clock (allowed ±{max_offset.total_seconds():.0f} s)",
        )
    return _ok("clock", f"{offset:+.1f} s from the server's clock")


def disk_free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_disk(path: Path, min_free_bytes: int) -> CheckResult:
    """Enough room for new content: below the floor new assets cannot be cached."""
    try:
        free = disk_free_bytes(path)
    except OSError as exc:
        return _fail("disk", f"cannot stat {path}: {exc.strerror}")
    mib = free / 2**20
    if free < min_free_bytes:
        return _fail(
            "disk", f"{mib:.0f} MiB free under {path}, need {min_free_bytes / 2**20:.0f} MiB"
        )
    return _ok("disk", f"{mib:.0f} MiB free under {path}")


def check_state_dir(state_dir: Path) -> CheckResult:
    """The state dir exists and is writable by this user (systemd ReadWritePaths, ownership)."""
    if not state_dir.is_dir():
        return _fail("state dir", f"{state_dir} does not exist")
    if not os.access(state_dir, os.W_OK | os.X_OK):
        return _fail("state dir", f"{state_dir} is not writable by uid {os.geteuid()}")
    return _ok("state dir", f"{state_dir} writable")


def check_output(settings: PlayerSettings) -> CheckResult:
    """The configured output can be used, without taking over the screen."""
    kind = settings.output
    name = f"output ({kind.value})"
    if kind is OutputKind.NULL:
        return _warn(name, "null output shows nothing (benchmarks only)")
    if kind is OutputKind.PNG:
        folder = settings.png_path.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            return _fail(name, f"{folder} is missing or not writable")
        return _ok(name, f"writes {settings.png_path}")
    if kind is OutputKind.FRAMEBUFFER:
        from player_agent.output.base import OutputError
        from player_agent.output.framebuffer import read_fb_info

        fb = settings.framebuffer
        try:
            info = read_fb_info(fb.sysfs_root / fb.device.name)
        except OutputError as exc:
            return _fail(name, str(exc))
        if not os.access(fb.device, os.W_OK):
            return _fail(
                name, f"{fb.device} is missing or not writable (is the user in group video?)"
            )
        return _ok(name, f"{fb.device} {info.width}x{info.height}, {info.bits_per_pixel} bpp")
    return _check_window(settings, name)


def _check_window(settings: PlayerSettings, name: str) -> CheckResult:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError:
        return _fail(name, "pygame is not installed")
    w = settings.window
    try:
        pygame.display.init()
        try:
            sizes = pygame.display.get_desktop_sizes()
            driver = pygame.display.get_driver()
        finally:
            pygame.display.quit()
    except pygame.error as exc:
        return _fail(name, f"no display reachable: {exc}")
    if w.display >= len(sizes):
        return _fail(
            name, f"display {w.display} does not exist ({len(sizes)} found, driver {driver})"
        )
    dw, dh = sizes[w.display]
    if w.x < 0 or w.y < 0 or w.x + w.width > dw or w.y + w.height > dh:
        return _warn(
            name,
            f"window {w.width}x{w.height} at ({w.x}, {w.y}) extends past display "
            f"{w.display} ({dw}x{dh}, driver {driver})",
        )
    return _ok(name, f"window {w.width}x{w.height} at ({w.x}, {w.y}) on {dw}x{dh} ({driver})")


def check_broker_tls(settings: PlayerSettings) -> CheckResult:
    """The site's CA file loads and the enrolled broker URL is TLS where TLS is required (no network used)."""
    name = "broker TLS"
    opts = settings.broker
    trust = "the system trust store"
    if opts.ca_file is not None:
        try:
            tls_context(TlsOptions(ca_file=str(opts.ca_file)))
        except BrokerTlsError as exc:
            return _fail(name, str(exc))
        trust = f"CA file {opts.ca_file}"
    try:
        url = StateStore(settings.state_file).state.broker_url if settings.state_file.exists() else None
    except StateError as exc:
        return _fail(name, str(exc))
    if url is None:
        return _ok(name, f"not enrolled yet; the broker certificate will be checked against {trust}")
    try:
        params = parse_broker_url(url)
    except ProtocolError as exc:
        return _fail(name, f"enrolled broker URL unusable: {exc}")
    if params.tls is None:
        if opts.require_tls or opts.ca_file is not None:
            return _fail(name, f"enrolled broker URL {params.url()} is plain MQTT but this player requires TLS; "
                               "enrol again against a server whose SIGNAGE_MQTT_PUBLIC_URL is mqtts://")
        return _warn(name, f"{params.url()} is plain MQTT: the broker password crosses the link unencrypted")
    return _ok(name, f"{params.url()}, certificate checked against {trust}")


def check_languages() -> CheckResult:
    """Every language of languages.toml has its script's fonts (Lao, Chinese: Debian packages)."""
    from signage_core.languages import LanguageConfigError, language_order
    from signage_core.render import RenderError, default_registry

    try:
        fonts = default_registry()
        languages = language_order()
    except (RenderError, LanguageConfigError) as exc:
        return _fail("languages", str(exc))
    missing = [lang.value for lang in languages if lang.info.script in fonts.unavailable]
    if missing:
        # The player runs; captions in these languages are refused by code point until installed.
        reasons = "; ".join(sorted(set(fonts.unavailable.values())))
        return _warn("languages", f"no fonts for {', '.join(missing)} (captions in them are refused): {reasons}")
    return _ok("languages", f"fonts for {', '.join(lang.value for lang in languages)}")


def run_checks(
    settings: PlayerSettings,
    *,
    now: datetime,
    server_time: datetime | None = None,
    font_paths: Sequence[Path] | None = None,
) -> list[CheckResult]:
    """All checks in the order a technician reads them."""
    fonts = list(font_paths) if font_paths is not None else default_font_paths()
    khmer = next((p for p in fonts if "khmer" in p.name.lower()), None)
    return [
        check_fonts(fonts),
        check_languages(),
        check_raqm(khmer),
        check_clock(now, server_time=server_time),
        check_state_dir(settings.state_dir),
        check_disk(settings.state_dir, settings.min_free_disk_mb * 2**20),
        check_output(settings),
        check_broker_tls(settings),
    ]


def overall(results: Sequence[CheckResult]) -> CheckStatus:
    """The worst status wins: one failure fails the check (the CLI exit code)."""
    statuses = {r.status for r in results}
    for status in (CheckStatus.FAIL, CheckStatus.WARN):
        if status in statuses:
            return status
    return CheckStatus.OK


def read_cpu_temperature(thermal_root: Path = Path("/sys/class/thermal")) -> float | None:
    """Hottest thermal zone in °C for the heartbeat; None where the board exposes none."""
    readings: list[float] = []
    for zone in sorted(thermal_root.glob("thermal_zone*")):
        try:
            readings.append(int((zone / "temp").read_text().strip()) / 1000)
        except (OSError, ValueError):
            continue
    return max(readings) if readings else None
