"""The signage-server command as an administrator uses it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from signage_server.cli import app
from tests.server.test_content import SHIPPED

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"SIGNAGE_DATA_DIR": str(tmp_path / "var"), "SIGNAGE_SECRET_KEY": "", "SIGNAGE_DATABASE_URL": "",
            "SIGNAGE_DEV": ""}


def _clean(env: dict[str, str]) -> dict[str, str | None]:
    return {k: (v or None) for k, v in env.items()}


def count(tmp_path: Path, table: str) -> int:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'signage.db'}")
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())  # noqa: S608


def test_migrate_is_idempotent_and_creates_a_private_secret(env: dict[str, str], tmp_path: Path) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["migrate"], env=_clean(env))
        assert result.exit_code == 0, result.output
    secret = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 32


def test_create_user_prompts_for_the_password(env: dict[str, str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["create-user", "le.thi.d", "--role", "translator", "--language", "km"],
                           input="một mật khẩu dài\nmột mật khẩu dài\n", env=_clean(env))
    assert result.exit_code == 0, result.output
    assert "một mật khẩu dài" not in result.output  # hidden input, never echoed
    assert count(tmp_path, "users") == 1
    refused = runner.invoke(app, ["create-user", "x", "--role", "admin", "--password", "secret123456"],
                            env=_clean(env))
    assert refused.exit_code != 0  # there is no way to put a password on the command line


def test_create_user_generated_password_is_printed_once(env: dict[str, str], tmp_path: Path) -> None:
    first = runner.invoke(app, ["create-user", "admin", "--role", "admin", "--generate-password", "--if-absent"],
                          env=_clean(env))
    assert first.exit_code == 0 and "password (shown once)" in first.output
    again = runner.invoke(app, ["create-user", "admin", "--role", "admin", "--generate-password", "--if-absent"],
                          env=_clean(env))
    assert again.exit_code == 0 and "password" not in again.output.replace("nothing to do", "")
    assert count(tmp_path, "users") == 1


def test_import_twice_and_a_broken_directory(env: dict[str, str], tmp_path: Path) -> None:
    ok = runner.invoke(app, ["import-playlists", str(SHIPPED)], env=_clean(env))
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(app, ["import-playlists", str(SHIPPED)], env=_clean(env))
    assert again.output.strip().endswith("0 changes")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.yaml").write_text("sites:\n  - slug: new-gate\n    name: New gate\n", encoding="utf-8")
    (broken / "b.yaml").write_text("screens:\n  - name: s\n    site: nowhere\n    width: 1\n    height: 1\n"
                                   "    pixel_pitch_mm: 5\n    languages: [vi]\n", encoding="utf-8")
    sites = count(tmp_path, "sites")
    failed = runner.invoke(app, ["import-playlists", str(broken)], env=_clean(env))
    assert failed.exit_code == 1
    assert "b.yaml: screens[0] (s): site: unknown site 'nowhere'" in failed.output
    assert count(tmp_path, "sites") == sites  # a.yaml's new site was rolled back too


def test_export_writes_importable_yaml(env: dict[str, str], tmp_path: Path) -> None:
    runner.invoke(app, ["import-playlists", str(SHIPPED)], env=_clean(env))
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(out)], env=_clean(env))
    assert result.exit_code == 0, result.output
    text = (out / "signage-export.yaml").read_text(encoding="utf-8")
    assert "Cửa khẩu Quốc tế Hoa Lư" in text and "ច្រកទ្វារព្រំដែនហ័ងយៀវ" in text


def test_weak_secret_is_refused_outside_dev(env: dict[str, str]) -> None:
    weak = _clean(env | {"SIGNAGE_SECRET_KEY": "changeme"})
    result = runner.invoke(app, ["migrate"], env=weak)
    assert result.exit_code == 1 and "SIGNAGE_SECRET_KEY is weak" in result.output
    dev = runner.invoke(app, ["migrate"], env=weak | {"SIGNAGE_DEV": "1"})
    assert dev.exit_code == 0, dev.output


def test_report_commands_write_pdf_xlsx_csv_for_cron(env: dict[str, str], tmp_path: Path) -> None:
    from io import BytesIO

    from openpyxl import load_workbook  # type: ignore[import-untyped]
    from pypdf import PdfReader

    assert runner.invoke(app, ["import-playlists", str(SHIPPED)], env=_clean(env)).exit_code == 0
    out = tmp_path / "half.pdf"
    result = runner.invoke(app, ["report", "periodic", "half_year", "--year", "2027", "--format", "pdf",
                                 "-o", str(out)], env=_clean(env))
    assert result.exit_code == 0, result.output
    assert "Báo cáo 6 tháng năm 2027 (15/10/2026 – 14/04/2027)" in result.output
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(BytesIO(out.read_bytes())).pages).split())
    assert "58/KH-UBND" in text and "Màn hình sảnh nhập cảnh Hoa Lư" in text and "hoa-lu-arrivals" not in text
    assert "Chưa đưa vào sử dụng" in text  # the imported screens never enrolled: listed apart
    xlsx = tmp_path / "annual.xlsx"
    assert runner.invoke(app, ["report", "periodic", "annual", "--year", "2026", "-f", "xlsx", "-o", str(xlsx)],
                         env=_clean(env)).exit_code == 0
    assert "Tổng hợp" in load_workbook(xlsx).sheetnames
    csv_file = tmp_path / "range.csv"
    done = runner.invoke(app, ["report", "range", "--from", "2026-11-01", "--to", "2026-11-30", "-f", "csv",
                               "-o", str(csv_file)], env=_clean(env))
    assert done.exit_code == 0, done.output
    assert csv_file.read_text(encoding="utf-8-sig").startswith("Báo cáo phát sóng từ 01/11/2026 đến 30/11/2026")
    bad = runner.invoke(app, ["report", "periodic", "quarterly", "-o", str(tmp_path / "q.pdf")], env=_clean(env))
    assert bad.exit_code == 1 and "unknown report kind" in bad.output and not (tmp_path / "q.pdf").exists()
    wrong = runner.invoke(app, ["report", "range", "--from", "2026-12-01", "--to", "2026-11-01", "-o",
                                str(tmp_path / "r.pdf")], env=_clean(env))
    assert wrong.exit_code == 1 and "'to' must not be before 'from'" in wrong.output


def test_bridge_config_prints_the_regions_bridge_section_and_names_an_unknown_region(env: dict[str, str]) -> None:
    regions = ('{"south": {"url": "mqtt://127.0.0.1:1884", "username": "signage-server", "password": "pw", '
               '"public_url": "mqtts://south.example:8883", "sites": ["loc-ninh-hoa-lu"], '
               '"bridge_password": "a-long-bridge-password"}}')
    env = {**env, "SIGNAGE_MQTT_REGIONS": regions}
    result = runner.invoke(app, ["bridge-config", "south", "--central-host", "central.example"], env=_clean(env))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["connection bridge-south", "address central.example:8883"]
    assert "remote_password a-long-bridge-password" in lines
    assert "topic signage/v1/screens/+/heartbeat out 0" in lines and "topic signage/v1/groups/+/alert in 1" in lines
    result = runner.invoke(app, ["bridge-config", "north", "--central-host", "central.example"], env=_clean(env))
    assert result.exit_code == 1 and "no region 'north'" in result.output


def test_regional_broker_without_a_site_is_refused_before_anything_is_written(env: dict[str, str],
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "north"
    result = runner.invoke(app, ["regional-broker", "north", "--dir", str(folder), "--central-host", "central.example",
                                 "--write-only"], env=_clean(env))
    assert result.exit_code == 1 and "region 'north' serves no site" in result.output and "--site" in result.output
    assert not folder.exists()


def test_regional_broker_writes_the_bridged_config_and_the_servers_region_entry(env: dict[str, str],
                                                                                tmp_path: Path) -> None:
    import json

    from signage_server.config import MqttRegion
    from tests.broker_fixtures import _require_mosquitto

    _require_mosquitto()
    folder = tmp_path / "south"
    args = ["regional-broker", "south", "--dir", str(folder), "--central-host", "central.example", "--host",
            "127.0.0.1", "--port", "1884", "--site", "loc-ninh-hoa-lu", "--write-only"]
    result = runner.invoke(app, args, env=_clean(env))
    assert result.exit_code == 0, result.output
    conf = (folder / "mosquitto.conf").read_text().splitlines()
    assert "listener 1884 127.0.0.1" in conf and "allow_anonymous false" in conf
    assert conf[conf.index("connection bridge-south") + 1] == "address central.example:8883"
    entry = json.loads((folder / "signage-region.json").read_text())["south"]
    assert stat.S_IMODE((folder / "signage-region.json").stat().st_mode) == 0o600
    region = MqttRegion.model_validate(entry)  # pasted as is into SIGNAGE_MQTT_REGIONS
    assert region.url == "mqtt://127.0.0.1:1884" and region.sites == ["loc-ninh-hoa-lu"]
    # The admin account in the entry is the one the broker's dynsec holds; the bridge password is kept.
    dynsec = json.loads((folder / "dynamic-security.json").read_text())
    assert [c["username"] for c in dynsec["clients"]] == [region.username]
    bridge = region.bridge_password.get_secret_value()
    assert f"remote_password {bridge}" in conf
    assert runner.invoke(app, args, env=_clean(env)).exit_code == 0
    assert f"remote_password {bridge}" in (folder / "mosquitto.conf").read_text().splitlines()
    # Once the server has the region, its bridge password is the one written (it is what bridge-south gets).
    regions = json.dumps({"south": {**entry, "bridge_password": "the-servers-bridge-password"}})
    result = runner.invoke(app, args, env=_clean({**env, "SIGNAGE_MQTT_REGIONS": regions}))
    assert result.exit_code == 0, result.output
    assert "remote_password the-servers-bridge-password" in (folder / "mosquitto.conf").read_text().splitlines()
    bad = runner.invoke(app, [*args[:1], "South X", *args[2:]], env=_clean(env))
    assert bad.exit_code == 1 and "invalid region 'South X'" in bad.output
