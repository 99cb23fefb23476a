"""The systemd unit keeps the hardening and watchdog the unattended player relies on."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).parents[2] / "deploy"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "signage-player.service")
    return parser


def test_unit_has_restart_watchdog_and_hardening() -> None:
    service = unit()["Service"]
    expected = {
        "Type": "notify",
        "Restart": "always",
        "User": "signage",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/signage-player",
        "NoNewPrivileges": "true",
        "StateDirectory": "signage-player",
    }
    for key, value in expected.items():
        assert service.get(key) == value, key
    assert int(service["WatchdogSec"]) > 0
    assert service["ExecStart"].endswith("signage-player run")
    assert unit()["Unit"]["StartLimitIntervalSec"] == "0"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    text = (DEPLOY / "signage-player.service").read_text()
    # Point ExecStart at a real binary: verify checks that it exists.
    copy = tmp_path / "signage-player.service"
    copy.write_text(text.replace("/opt/signage-player/venv/bin/signage-player run", "/bin/true"))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_install_script_parses() -> None:
    script = DEPLOY / "install-player.sh"
    assert script.stat().st_mode & 0o111, "must be executable"
    checker = shutil.which("shellcheck")
    cmd = [checker, str(script)] if checker else ["bash", "-n", str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def installer_config(ca_installed: bool) -> str:
    """The player.toml install-player.sh writes, with its one variable filled as the script would."""
    script = (DEPLOY / "install-player.sh").read_text()
    body = script.split('cat >"$CONF" <<TOML\n', 1)[1].split("\nTOML\n", 1)[0]
    assert body.count("$") == 1, "the heredoc expands only $CA_LINE"
    line = 'ca_file = "/etc/signage/broker-ca.pem"'
    return body.replace("$CA_LINE", line if ca_installed else f"# {line}") + "\n"


@pytest.mark.parametrize("ca_installed", [False, True])
def test_installed_config_requires_tls_and_uses_the_ca_given(tmp_path: Path, ca_installed: bool) -> None:
    from player_agent.config import load_settings

    path = tmp_path / "player.toml"
    path.write_text(installer_config(ca_installed), encoding="utf-8")
    settings = load_settings(path)
    assert settings.broker.require_tls is True
    assert settings.broker.ca_file == (Path("/etc/signage/broker-ca.pem") if ca_installed else None)
