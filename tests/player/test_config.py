"""Settings come from the site's TOML file, env overrides it, and mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from player_agent.config import (
    CONFIG_FILE_ENV,
    ConfigError,
    OutputKind,
    PlayerSettings,
    load_settings,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SIGNAGE_PLAYER_"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_a_fresh_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_FILE_ENV, str(write(tmp_path, "")))
    settings = load_settings()
    assert settings.state_dir == Path("/var/lib/signage-player")
    assert settings.output is OutputKind.WINDOW
    assert settings.heartbeat_period_s == 30
    assert settings.state_file == Path("/var/lib/signage-player/state.json")
    assert settings.png_path == Path("/var/lib/signage-player/screen.png")


def test_file_values_and_env_override_nested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        f'state_dir = "{tmp_path}"\noutput = "framebuffer"\nheartbeat_period_s = 10\n'
        "[window]\nwidth = 960\nheight = 160\n"
        '[blanking]\noff_command = ["vcgencmd", "display_power", "0"]\n',
    )
    monkeypatch.setenv("SIGNAGE_PLAYER_WINDOW__HEIGHT", "320")
    monkeypatch.setenv("SIGNAGE_PLAYER_HEARTBEAT_PERIOD_S", "15")
    settings = load_settings(path)
    assert settings.output is OutputKind.FRAMEBUFFER
    assert settings.window.width == 960  # from the file
    assert settings.window.height == 320  # env wins
    assert settings.heartbeat_period_s == 15
    assert settings.blanking.off_command == ("vcgencmd", "display_power", "0")
    assert settings.cache_dir == tmp_path / "cache"


def test_typo_in_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="outptu"):
        load_settings(write(tmp_path, 'outptu = "png"\n'))


def test_bad_value_names_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"window\.width"):
        load_settings(write(tmp_path, "[window]\nwidth = 0\n"))
    with pytest.raises(ConfigError, match="output"):
        load_settings(write(tmp_path, 'output = "hdmi"\n'))


def test_broken_toml_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "output = \n")
    with pytest.raises(ConfigError, match=r"player\.toml is not valid TOML"):
        load_settings(path)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_relative_state_dir_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="state_dir"):
        load_settings(write(tmp_path, 'state_dir = "var/state"\n'))


def test_no_secret_fields_with_defaults() -> None:
    names = " ".join(PlayerSettings.model_fields)
    assert "password" not in names and "token" not in names and "key" not in names
