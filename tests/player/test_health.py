"""`check` tells a technician what is wrong in words, and never crashes doing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import features

from player_agent.config import BrokerOptions, PlayerSettings
from player_agent.health import (
    CheckStatus,
    check_broker_tls,
    check_clock,
    check_disk,
    check_fonts,
    check_languages,
    check_output,
    check_raqm,
    check_state_dir,
    default_font_paths,
    overall,
    read_cpu_temperature,
    run_checks,
)

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_packaged_fonts_are_found_and_load() -> None:
    paths = default_font_paths()
    assert any("Khmer" in p.name for p in paths)
    assert check_fonts(paths).status is CheckStatus.OK


def test_missing_or_broken_font_fails_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "Broken.ttf"
    broken.write_bytes(b"not a font")
    result = check_fonts([*default_font_paths(), broken])
    assert result.status is CheckStatus.FAIL and "Broken.ttf" in result.detail
    assert check_fonts([]).status is CheckStatus.FAIL


@pytest.mark.skipif(not features.check("raqm"), reason="this Pillow has no raqm")
def test_raqm_really_shapes_khmer() -> None:
    khmer = next(p for p in default_font_paths() if "Khmer" in p.name)
    result = check_raqm(khmer)
    assert result.status is CheckStatus.OK, result.detail
    assert "shaping works" in result.detail


def test_raqm_missing_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "check", lambda name: False)
    result = check_raqm()
    assert result.status is CheckStatus.FAIL and "Khmer" in result.detail


def test_clock_checks() -> None:
    assert check_clock(NOW).status is CheckStatus.OK
    unset = check_clock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC))
    assert unset.status is CheckStatus.FAIL and "never set" in unset.detail
    drift = check_clock(NOW, server_time=NOW - timedelta(minutes=3))
    assert drift.status is CheckStatus.WARN and "+180.0 s" in drift.detail
    assert check_clock(NOW, server_time=NOW + timedelta(seconds=2)).status is CheckStatus.OK


def test_disk_floor(tmp_path: Path) -> None:
    assert check_disk(tmp_path, 1).status is CheckStatus.OK
    low = check_disk(tmp_path / "not" / "yet", 2**62)
    assert low.status is CheckStatus.FAIL and "need" in low.detail


def test_state_dir(tmp_path: Path) -> None:
    assert check_state_dir(tmp_path).status is CheckStatus.OK
    assert check_state_dir(tmp_path / "missing").status is CheckStatus.FAIL


def test_output_checks(tmp_path: Path) -> None:
    png = check_output(PlayerSettings(state_dir=tmp_path, output="png"))
    assert png.status is CheckStatus.OK
    missing = check_output(PlayerSettings(state_dir=tmp_path / "gone", output="png"))
    assert missing.status is CheckStatus.FAIL
    fb = check_output(
        PlayerSettings(
            state_dir=tmp_path,
            output="framebuffer",
            framebuffer={"device": tmp_path / "fb7", "sysfs_root": tmp_path},
        )
    )
    assert fb.status is CheckStatus.FAIL and "fb7" in fb.detail
    (tmp_path / "fb7").mkdir()
    for name, value in (("virtual_size", "960,160"), ("stride", "3840"), ("bits_per_pixel", "32")):
        (tmp_path / "fb7" / name).write_text(value)
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "fb7").write_bytes(bytes(3840 * 160))
    fb_ok = check_output(
        PlayerSettings(
            state_dir=tmp_path,
            output="framebuffer",
            framebuffer={"device": dev / "fb7", "sysfs_root": tmp_path},
        )
    )
    assert fb_ok.status is CheckStatus.OK and "960x160, 32 bpp" in fb_ok.detail


def test_window_check_compares_with_display(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # the dummy display is 1024x768
    fits = check_output(PlayerSettings(state_dir=tmp_path, window={"width": 960, "height": 160}))
    assert fits.status is CheckStatus.OK, fits.detail
    past = check_output(
        PlayerSettings(state_dir=tmp_path, window={"x": 100, "width": 960, "height": 160})
    )
    assert past.status is CheckStatus.WARN and "extends past" in past.detail


def test_run_checks_and_overall(tmp_path: Path) -> None:
    results = run_checks(PlayerSettings(state_dir=tmp_path, output="png"), now=NOW)
    assert [r.name for r in results] == [
        "fonts",
        "languages",
        "raqm",
        "clock",
        "state dir",
        "disk",
        "output (png)",
        "broker TLS",
    ]
    assert overall(results) is CheckStatus.OK, [
        r for r in results if r.status is not CheckStatus.OK
    ]
    late = run_checks(PlayerSettings(state_dir=tmp_path, output="null"), now=NOW)
    assert overall(late) is CheckStatus.WARN
    bad = run_checks(PlayerSettings(state_dir=tmp_path / "x", output="png"), now=NOW)
    assert overall(bad) is CheckStatus.FAIL


def test_broker_tls_check_names_the_file_and_the_plain_url(tmp_path: Path) -> None:
    from player_agent.state import StateStore
    from tests.tls_certs import make_ca

    ca = make_ca(tmp_path / "ca").cert_file
    junk = tmp_path / "junk.pem"
    junk.write_text("junk", encoding="utf-8")

    def run(**broker: object) -> tuple[CheckStatus, str]:
        result = check_broker_tls(PlayerSettings(state_dir=tmp_path, broker=BrokerOptions(**broker)))  # type: ignore[arg-type]
        return result.status, result.detail

    assert run(ca_file=ca) == (CheckStatus.OK, f"not enrolled yet; the broker certificate will be checked against CA file {ca}")
    status, detail = run(ca_file=junk)
    assert status is CheckStatus.FAIL and f"broker CA file {junk} holds no usable PEM certificate" in detail
    store = StateStore(tmp_path / "state.json")
    store.enrol(screen_id="gate-1", broker_url="mqtt://signage.example:1883", broker_username="gate-1",
                broker_password="pw", pinned_keys=("a2V5",))
    assert run()[0] is CheckStatus.WARN and "unencrypted" in run()[1]
    status, detail = run(require_tls=True)
    assert status is CheckStatus.FAIL and "mqtt://signage.example:1883 is plain MQTT" in detail
    store.enrol(screen_id="gate-1", broker_url="mqtts://signage.example", broker_username="gate-1",
                broker_password="pw", pinned_keys=("a2V5",))
    assert run(require_tls=True) == (
        CheckStatus.OK, "mqtts://signage.example:8883, certificate checked against the system trust store")
    assert run(ca_file=ca)[1].endswith(f"checked against CA file {ca}")


def test_cpu_temperature(tmp_path: Path) -> None:
    assert read_cpu_temperature(tmp_path) is None
    for i, milli in enumerate(("48312", "61000", "junk")):
        (tmp_path / f"thermal_zone{i}").mkdir()
        (tmp_path / f"thermal_zone{i}" / "temp").write_text(milli + "\n")
    assert read_cpu_temperature(tmp_path) == 61.0


def test_a_language_whose_script_has_no_fonts_fails_the_check(tmp_path: Path) -> None:
    """A languages.toml naming a script fonts.toml does not chain is caught on site, naming both."""
    import tomllib

    from signage_core.languages import DEFAULT_LANGUAGES_FILE, LanguageRegistry, use_registry
    from signage_core.render.fonts import default_registry

    config = tomllib.loads(DEFAULT_LANGUAGES_FILE.read_text(encoding="utf-8"))
    config["languages"]["my"] = {"native": "မြန်မာ", "name_vi": "Tiếng Miến Điện", "name_en": "Burmese",
                                 "script": "myanmar", "breaks": "icu", "order": 70}
    use_registry(LanguageRegistry.from_config(config, source="test"))
    default_registry.cache_clear()
    try:
        result = check_languages()
    finally:
        use_registry(None)
        default_registry.cache_clear()
    assert result.status is CheckStatus.FAIL
    assert "'my'" in result.detail and "'myanmar'" in result.detail
    assert check_languages().status is CheckStatus.OK


def test_a_missing_optional_font_package_refuses_its_letters_but_the_player_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgraded player without fonts-noto-core (Lao) still draws Vietnamese and Khmer: the
    check warns, naming the language, and Lao letters are refused by code point."""
    import signage_core.render as render
    from signage_core.fsutil import read_toml
    from signage_core.languages import Language
    from signage_core.render import ProblemCode, ScreenSpec, validate
    from signage_core.render.fonts import DEFAULT_FONTS_DIR, FontRegistry

    config = read_toml(DEFAULT_FONTS_DIR / "fonts.toml", "font configuration", RuntimeError)
    config["fonts"]["noto-sans-lao"] = {"fontconfig": "No Such Lao Family"}
    fonts = FontRegistry.from_config(config, base_dir=DEFAULT_FONTS_DIR, source="test")

    assert "lao" in fonts.unavailable and "No Such Lao Family" in fonts.unavailable["lao"]
    spec = ScreenSpec(width=768, height=384)
    assert not validate("Xin chào", Language("vi"), spec, registry=fonts)
    refused = validate("ສະບາຍດີ", Language("lo"), spec, others={Language("vi"): "Xin chào"}, registry=fonts)
    assert refused and all(p.code is ProblemCode.MISSING_GLYPH for p in refused)

    monkeypatch.setattr(render, "default_registry", lambda: fonts)
    result = check_languages()
    assert result.status is CheckStatus.WARN
    assert "lo" in result.detail and "No Such Lao Family" in result.detail
