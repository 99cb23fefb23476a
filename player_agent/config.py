"""Player settings, built once at start and passed in: a TOML file on site, env vars to override it."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("/etc/signage/player.toml")
DEFAULT_STATE_DIR = Path("/var/lib/signage-player")
# Names the config file when no path is passed in (systemd unit, technician's shell).
CONFIG_FILE_ENV = "SIGNAGE_PLAYER_CONFIG"

PositiveInt = Annotated[int, Field(gt=0)]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the field."""


class OutputKind(StrEnum):
    WINDOW = "window"
    FRAMEBUFFER = "framebuffer"
    PNG = "png"
    NULL = "null"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowOptions(_Options):
    """Where the borderless window sits on the HDMI output that the LED sending card captures."""

    x: int = 0
    y: int = 0
    width: PositiveInt = 1920
    height: PositiveInt = 1080
    display: Annotated[int, Field(ge=0)] = 0


class FramebufferOptions(_Options):
    """Which /dev/fbN to draw on and where the sending card's capture region starts."""

    device: Path = Path("/dev/fb0")
    # Where the kernel describes the device; tests point it at a fake directory.
    sysfs_root: Path = Path("/sys/class/graphics")
    x: Annotated[int, Field(ge=0)] = 0
    y: Annotated[int, Field(ge=0)] = 0


class PngOptions(_Options):
    """Headless sites and tests: the current frame as a file; None means <state_dir>/screen.png."""

    path: Path | None = None


def _program_first(value: tuple[str, ...]) -> tuple[str, ...]:
    if value and not value[0].strip():
        raise ValueError("the first word must be the program to run")
    return value


# A command from the local config: run as an argv list, never through a shell; empty means none.
Argv = Annotated[tuple[str, ...], AfterValidator(_program_first)]


class BlankingOptions(_Options):
    """Commands (argv lists, never a shell) that switch the LED screen off and on for off-hours."""

    off_command: Argv = ()
    on_command: Argv = ()
    timeout_s: Annotated[float, Field(gt=0)] = 10.0


class BrightnessOptions(_Options):
    """How the manifest's brightness level reaches the LED, and an optional light sensor (argv lists, no shell)."""

    # The controller's brightness tool, "{percent}" replaced by 0-100; empty: the player dims its frames.
    command: Argv = ()
    # Prints a lux value (the first word of its output), read every sensor_period_s.
    sensor_command: Argv = ()
    # (lux, percent) points, linear between them: dark night 10 %, overcast 60 %, tropical noon 100 %.
    sensor_curve: tuple[tuple[Annotated[float, Field(ge=0)], Annotated[int, Field(ge=0, le=100)]], ...] = (
        (0.0, 10), (50.0, 20), (1000.0, 60), (10000.0, 100))
    sensor_period_s: Annotated[float, Field(ge=5, le=3600)] = 60.0
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0

    @field_validator("command")
    @classmethod
    def _says_where_the_level_goes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and not any("{percent}" in word for word in value[1:]):
            raise ValueError('one of the arguments must contain "{percent}", the level to set')
        return value

    @field_validator("sensor_curve")
    @classmethod
    def _curve(cls, value: tuple[tuple[float, int], ...]) -> tuple[tuple[float, int], ...]:
        if not value:
            raise ValueError("the sensor curve needs at least one (lux, percent) point")
        return value


class ScreenshotOptions(_Options):
    """The periodic thumbnail that lets the dashboard show what each screen really shows."""

    period_s: Annotated[float, Field(ge=0)] = 300.0  # 0 turns periodic thumbnails off
    thumbnail_width: Annotated[int, Field(ge=16, le=1920)] = 320
    jpeg_quality: Annotated[int, Field(ge=10, le=95)] = 70


class BrokerOptions(_Options):
    """TLS to the broker enrolment named: the CA that signed its certificate, and whether plain MQTT may be used."""

    # None: the system trust store (a public CA); a private CA's certificate is a file put here on site.
    ca_file: Path | None = None
    # True (the installer's default): a plain mqtt:// broker URL is refused; a set ca_file implies it.
    require_tls: bool = False

    @field_validator("ca_file")
    @classmethod
    def _absolute_ca(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"must be an absolute path, got {str(value)!r}")
        return value


class PlayerSettings(BaseSettings):
    """Everything an on-site technician may set; secrets come from enrolment, never defaults."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNAGE_PLAYER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    state_dir: Path = DEFAULT_STATE_DIR
    output: OutputKind = OutputKind.WINDOW
    window: WindowOptions = WindowOptions()
    framebuffer: FramebufferOptions = FramebufferOptions()
    png: PngOptions = PngOptions()
    blanking: BlankingOptions = BlankingOptions()
    brightness: BrightnessOptions = BrightnessOptions()
    screenshot: ScreenshotOptions = ScreenshotOptions()
    broker: BrokerOptions = BrokerOptions()
    heartbeat_period_s: Annotated[float, Field(ge=1, le=3600)] = 30.0
    # Ticker layout: frames per second handed to the output and scroll speed.
    ticker_fps: Annotated[int, Field(ge=1, le=120)] = 30
    ticker_speed_px_s: Annotated[float, Field(gt=0, le=5000)] = 120.0
    # How long the `identify` command shows the screen's name.
    identify_s: Annotated[float, Field(gt=0, le=600)] = 15.0
    # `check` fails below this; the cache stops growing well before the card is full.
    min_free_disk_mb: Annotated[int, Field(ge=0)] = 200
    log_level: str = "INFO"

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError(f"must be an absolute path, got {str(value)!r}")
        return value

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def journal_dir(self) -> Path:
        return self.state_dir / "journal"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def png_path(self) -> Path:
        return self.png.path if self.png.path is not None else self.state_dir / "screen.png"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Env beats the file so a technician can try a value without editing /etc.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file") is not None:
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def resolve_config_file(
    config_file: Path | None, environ: Mapping[str, str] | None = None
) -> tuple[Path, bool]:
    """The file to read and whether someone asked for it explicitly (then it must exist)."""
    if config_file is not None:
        return config_file, True
    env = os.environ if environ is None else environ
    named = env.get(CONFIG_FILE_ENV)
    if named:
        return Path(named), True
    return DEFAULT_CONFIG_FILE, False


def load_settings(config_file: Path | None = None, **overrides: Any) -> PlayerSettings:
    """Build the settings from file + env (+ explicit overrides), with errors naming file and field."""
    path, explicit = resolve_config_file(config_file)
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist")
        return _build(PlayerSettings, path, overrides)
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc

    class _FromFile(PlayerSettings):
        model_config = SettingsConfigDict(toml_file=path)

    return _build(_FromFile, path, overrides)


def _build(cls: type[PlayerSettings], path: Path, overrides: dict[str, Any]) -> PlayerSettings:
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(
            f"invalid player settings (file {path} or SIGNAGE_PLAYER_* env): {problems}"
        ) from exc
