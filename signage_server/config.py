"""One Settings object, read from SIGNAGE_* once and passed to whatever needs it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from signage_server.errors import ConfigError
from signage_server.fileio import atomic_write_bytes

# Values people paste from tutorials; refusing them keeps a border-gate server off the defaults.
_KNOWN_WEAK = {"changeme", "change-me", "changethis", "secret", "dev", "development", "test", "password"}
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Server configuration; SIGNAGE_<FIELD> in the environment overrides each field."""

    model_config = SettingsConfigDict(env_prefix="SIGNAGE_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    mqtt_url: str | None = None
    secret_key: SecretStr | None = None
    dev: bool = False
    migrate_on_start: bool = True
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    session_hours: int = Field(default=12, gt=0)
    login_window_minutes: int = Field(default=15, gt=0)
    login_max_failures_per_account: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    page_size_max: int = Field(default=200, gt=0)
    # Days of timeline each manifest carries (the player runs that long offline).
    manifest_horizon_days: int = Field(default=7, ge=1, le=60)
    # Run the APScheduler horizon job in this process (off in tests; they drive it directly).
    manifest_jobs: bool = False

    @property
    def assets_dir(self) -> Path:
        return self.data_dir / "assets"

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
