"""Settings: defaults that work on a bare machine, secrets that are never weak by accident."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from signage_server.config import Settings
from signage_server.errors import ConfigError


def test_database_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    assert settings.resolved_database_url() == f"sqlite:///{(tmp_path / 'var' / 'signage.db').resolve()}"


def test_env_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIGNAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIGNAGE_DATABASE_URL", "postgresql+psycopg://db/signage")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.resolved_database_url().startswith("postgresql")


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key()
    path = tmp_path / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path).resolved_secret_key() == first


@pytest.mark.parametrize("weak", ["changeme", "secret", "short-but-random-x"])
def test_weak_secrets_are_refused_unless_dev(tmp_path: Path, weak: str) -> None:
    with pytest.raises(ConfigError, match="weak"):
        Settings(data_dir=tmp_path, secret_key=weak).resolved_secret_key()
    assert Settings(data_dir=tmp_path, secret_key=weak, dev=True).resolved_secret_key() == weak


def test_weak_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("changeme")
    with pytest.raises(ConfigError, match="secret_key"):
        Settings(data_dir=tmp_path).resolved_secret_key()


def test_a_mistyped_time_zone_stops_the_server_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNAGE_TIMEZONE", "Asia/Hanoi")  # not a tz database name
    with pytest.raises(ValueError, match="SIGNAGE_TIMEZONE 'Asia/Hanoi' is not a known time zone"):
        Settings()
    monkeypatch.setenv("SIGNAGE_TIMEZONE", "Asia/Bangkok")
    assert Settings().timezone == "Asia/Bangkok"
