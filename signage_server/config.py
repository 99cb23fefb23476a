"""One Settings object, read from SIGNAGE_* once and passed to whatever needs it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from signage_core.fsutil import atomic_write_bytes
from signage_core.protocol import ProtocolError, check_id
from signage_server.errors import ConfigError
from signage_server.slides.readability import Rules

# Values people paste from tutorials; refusing them keeps a border-gate server off the defaults.
_KNOWN_WEAK = {"changeme", "change-me", "changethis", "secret", "dev", "development", "test", "password"}
MIN_SECRET_LENGTH = 32


class MqttRegion(BaseModel):
    """A regional Mosquitto whose screens' accounts the server keeps, bridged to the central broker."""

    # mqtt:// or mqtts:// where the server reaches the regional broker's dynsec API as its admin account.
    url: str
    username: str
    password: SecretStr
    # What the region's players are told at enrolment (as seen from the sites).
    public_url: str
    # Site slugs whose screens connect to this broker.
    sites: list[str] = Field(min_length=1)
    # The regional broker's bridge logs in to the central broker with account bridge-<region> and this password.
    bridge_password: SecretStr
    ca_file: str | None = None


class Settings(BaseSettings):
    """Server configuration; SIGNAGE_<FIELD> in the environment overrides each field."""

    model_config = SettingsConfigDict(env_prefix="SIGNAGE_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    # Unset: the server runs its own Mosquitto; set: mqtt:// or mqtts:// of an external broker.
    mqtt_url: str | None = None
    mqtt_enabled: bool = True
    mqtt_port: int = Field(default=1883, ge=0, le=65535)
    # Where the managed broker listens; players at the sites must reach it, hence all interfaces.
    mqtt_bind_host: str = "0.0.0.0"  # noqa: S104 - the broker is meant to be reached from the sites
    # The broker address handed to enrolling players, as seen from the sites.
    mqtt_public_url: str | None = None
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: str | None = None
    mqtt_certfile: str | None = None
    mqtt_keyfile: str | None = None
    mqtt_tls_insecure: bool = False
    heartbeat_interval_s: int = Field(default=30, gt=0)
    # Regional brokers by name (JSON in SIGNAGE_MQTT_REGIONS); screens of sites in none use the central broker.
    mqtt_regions: dict[str, MqttRegion] = Field(default_factory=dict)
    # How often a process without the MQTT side checks whether its owner ended, to take it over.
    transport_takeover_interval_s: float = Field(default=15, gt=0)
    # Whether this process takes the MQTT side at start (with SIGNAGE_MQTT_URL) or first leaves it
    # one takeover interval to the scheduler process; unset: the process that runs the scheduler.
    transport_prefer_owner: bool | None = None
    heartbeats_missed_offline: int = Field(default=3, gt=0)
    # How long the report writer waits for more reports to join a batch's transaction (bounded delay).
    report_batch_delay_ms: float = Field(default=5, ge=0, le=1000)
    # The dashboard highlights a screen dark for longer than this (a short blip is not an incident).
    dashboard_offline_alert_minutes: int = Field(default=10, gt=0)
    enrolment_code_hours: int = Field(default=24, gt=0)
    enrol_window_minutes: int = Field(default=15, gt=0)
    enrol_max_failures_per_address: int = Field(default=10, gt=0)
    secret_key: SecretStr | None = None
    dev: bool = False
    migrate_on_start: bool = True
    # Off in every API worker but one when several run: the scheduler must publish exactly once.
    run_scheduler: bool = True
    # Load the word segmenters at start, in the background, not at the first preview or approval.
    warm_typesetting: bool = True
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    session_hours: int = Field(default=12, gt=0)
    login_window_minutes: int = Field(default=15, gt=0)
    login_max_failures_per_account: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    page_size_max: int = Field(default=200, gt=0)
    # Days of timeline each manifest carries (the player runs that long offline).
    manifest_horizon_days: int = Field(default=7, ge=1, le=60)
    # How often the server looks for a new signing key (a CLI `key rotate` while it runs).
    key_check_interval_s: int = Field(default=60, gt=0, le=3600)
    # Periodic reports (docs/reports.md): the province's deadlines as MM-DD, data closed on this day of the
    # month before each deadline (Decree 09/2019/ND-CP practice: close on the 14th, report after).
    report_half_year_due: str = Field(default="05-20", pattern=r"^\d{2}-\d{2}$")
    report_annual_due: str = Field(default="11-15", pattern=r"^\d{2}-\d{2}$")
    report_cutoff_day: int = Field(default=14, ge=1, le=28)
    report_banner_days: int = Field(default=30, ge=0, le=120)
    # The printed form's letterhead: who reports, to whom, under which authority, and where.
    report_unit: str = "Ban Quản lý Khu kinh tế tỉnh Bình Phước"
    report_parent: str = "UBND tỉnh Bình Phước"
    report_recipient: str = "Sở Thông tin và Truyền thông tỉnh Bình Phước"
    report_place: str = "Bình Phước"
    # Every clock time a person reads on a page is in this zone (named once per page); the API keeps UTC.
    timezone: str = "Asia/Ho_Chi_Minh"
    # The players' thumbnail period (player config screenshot.period_s): the dashboard marks a thumbnail
    # older than two periods as stale.
    screenshot_period_s: float = Field(default=300.0, gt=0)
    # The readability check (slides/readability.py; sources of these defaults in docs/architecture.md):
    # where readers stand when a screen names no distance, letter height per metre of distance (1 inch per
    # 10 feet), reading speed, and whether approval refuses an unreadable caption (else only warns).
    readability_viewing_distance_m: float = Field(default=10.0, gt=0, le=500)
    readability_mm_per_m: float = Field(default=8.3, ge=0, le=100)
    readability_words_per_s: float = Field(default=3.0, gt=0, le=50)
    readability_refuse: bool = True

    @property
    def readability(self) -> Rules:
        return Rules(viewing_distance_m=self.readability_viewing_distance_m, mm_per_m=self.readability_mm_per_m,
                     words_per_s=self.readability_words_per_s, refuse=self.readability_refuse)

    @model_validator(mode="after")
    def _regions_are_distinct(self) -> Settings:
        """A site in two regions would get its accounts on one broker and its players sent to the other."""
        seen: dict[str, str] = {}
        for name, region in self.mqtt_regions.items():
            try:
                check_id(name, what="region name")
            except ProtocolError as exc:
                raise ValueError(f"SIGNAGE_MQTT_REGIONS: {exc}") from None
            if len(region.bridge_password.get_secret_value()) < 16:
                raise ValueError(f"SIGNAGE_MQTT_REGIONS: region {name!r}: bridge_password needs 16+ characters")
            for site in region.sites:
                if site in seen:
                    raise ValueError(f"SIGNAGE_MQTT_REGIONS: site {site!r} is in regions {seen[site]!r} and {name!r}")
                seen[site] = name
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """A mistyped zone would shift every time on every page: refuse to start instead."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"SIGNAGE_TIMEZONE {value!r} is not a known time zone, e.g. Asia/Ho_Chi_Minh") from None
        return value

    @property
    def assets_dir(self) -> Path:
        return self.data_dir / "assets"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def screenshots_dir(self) -> Path:
        return self.data_dir / "screenshots"

    def resolved_database_url(self) -> str:
        """The configured URL, or the SQLite file in the data dir so a bare install just works."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'signage.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The secret from the environment or the data dir, generated once; weak ones refused."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            _check_secret(value, dev=self.dev, source="SIGNAGE_SECRET_KEY")
            return value
        path = self.data_dir / "secret_key"
        if path.exists():
            value = path.read_text(encoding="utf-8").strip()
            _check_secret(value, dev=self.dev, source=str(path))
            return value
        value = secrets.token_urlsafe(48)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, value.encode("utf-8"), mode=0o600)
        return value


def _check_secret(value: str, *, dev: bool, source: str) -> None:
    """Refuse a short or well-known secret unless in dev mode, naming where it came from."""
    weak = len(value) < MIN_SECRET_LENGTH or value.lower() in _KNOWN_WEAK
    if weak and not dev:
        raise ConfigError(
            f"{source} is weak (needs at least {MIN_SECRET_LENGTH} random characters); "
            "unset it to have one generated, or set SIGNAGE_DEV=1 for development"
        )


def load_settings() -> Settings:
    """Build Settings from the environment; the one place the process reads SIGNAGE_*."""
    return Settings(_env_file=os.environ.get("SIGNAGE_ENV_FILE"))
