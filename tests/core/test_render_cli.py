"""signage-render: what an operator types, and the JSON a test or script can check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from signage_core.render import frame_hash
from signage_core.render.cli import main
from tests.core.test_render_text import CAPTIONS

WELCOME = next(c for c in CAPTIONS if c["id"] == "welcome-vn")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_stacked_png_and_json_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "slide.png"
    code, stdout, _ = _run(
        capsys, "--size", "768x384", "--layout", "stacked", "--vi", WELCOME["vi"],
        "--en", WELCOME["en"], "--km", WELCOME["km"], "-o", str(out), "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(stdout)
    with Image.open(out) as img:
        assert img.size == (768, 384)
        assert report["frame_hash"] == frame_hash(img)
    vi, en, km = report["languages"]
    assert [vi["language"], en["language"], km["language"]] == ["vi", "en", "km"]
    assert vi["font"] == "BeVietnamPro-SemiBold.ttf" and km["font"].startswith("NotoSansKhmer")
    assert en["size_px"] <= 0.75 * vi["size_px"]
    assert " ".join(vi["lines"]) == WELCOME["vi"]
    assert "".join(km["lines"]) == WELCOME["km"]
    assert not list(tmp_path.glob(".slide.png.*")), "no temp file left behind"


def test_khmer_hints_let_a_narrow_screen_break_between_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--size", "320x320", "--layout", "rotate", "--km", WELCOME["km"], "--json"]
    code, stdout, _ = _run(capsys, *args, "--khmer-hints")
    assert code == 0
    lines = json.loads(stdout)["languages"][0]["lines"]
    assert len(lines) > 1
    # every break falls on one of ICU's word boundaries
    words = ["សូមស្វាគមន៍", "មកកាន់", "ប្រទេស", "វៀតណាម"]
    assert all(any(line.startswith(w) for w in words) for line in lines)


def test_caption_takes_any_configured_language_in_display_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, stdout, _ = _run(
        capsys, "--size", "768x384", "--caption", "th=ยินดีต้อนรับสู่ประเทศเวียดนาม", "--vi", WELCOME["vi"],
        "--caption", "zh-Hans=欢迎来到越南！", "--hints", "--json",
    )  # fmt: skip
    assert code == 0
    blocks = json.loads(stdout)["languages"]
    assert [b["language"] for b in blocks] == ["vi", "zh-Hans", "th"]  # languages.toml's order
    assert blocks[1]["font"].startswith("NotoSansCJK") and blocks[2]["font"].startswith("NotoSansThai")
    for bad, named in ((["--caption", "fr=Bonjour"], "unknown language 'fr'"),
                       (["--caption", "th"], "expected LANG=TEXT"),
                       (["--vi", "a", "--caption", "vi=b"], "the vi caption is given twice")):
        with pytest.raises(SystemExit):
            main(["--size", "768x384", *bad, "--json"])
        assert named in capsys.readouterr().err


def test_ticker_json_reports_the_strip(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = _run(
        capsys, "--size", "960x160", "--layout", "ticker", "--vi", WELCOME["vi"], "--km",
        WELCOME["km"], "--json", "--offset", "0",
    )  # fmt: skip
    report = json.loads(stdout)
    assert code == 0 and report["period"] + 960 == report["strip_width"]
    assert [lang["lines"] for lang in report["languages"]] == [[WELCOME["vi"]], [WELCOME["km"]]]


def test_a_caption_that_cannot_be_shown_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, stderr = _run(capsys, "--size", "768x384", "--vi", "Xin chào ꦗ", "--json")
    assert code == 2
    assert "U+A997" in stderr and "vi: missing_glyph" in stderr


def test_bad_arguments_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--size", "768by384", "--vi", "x", "--json"])
    assert "768by384" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--size", "768x384", "--vi", "x", "--image", str(tmp_path / "none.png"), "--json"])
    assert "none.png" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--size", "768x384", "--vi", "x"])
    assert "nothing to do" in capsys.readouterr().err


def test_the_installed_command_runs(tmp_path: Path) -> None:
    exe = shutil.which("signage-render", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = tmp_path / "t.png"
    done = subprocess.run(
        [exe, "--size", "960x160", "--layout", "ticker", "--vi", "Chào mừng", "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (960, 160)


def test_json_counts_breaks_inside_words(capsys: pytest.CaptureFixture[str]) -> None:
    """A word wider than the line is broken, and --json says how often, so validation can warn."""
    name = "\u00a0".join(["Nghiêng"] * 4)
    code, stdout, _ = _run(
        capsys, "--size", "200x300", "--layout", "rotate", "--vi", name, "--json"
    )
    (block,) = json.loads(stdout)["languages"]
    assert code == 0 and len(block["lines"]) > 1
    assert block["breaks_inside_words"] == len(block["lines"]) - 1
    code, stdout, _ = _run(capsys, "--size", "768x384", "--vi", WELCOME["vi"], "--json")
    assert json.loads(stdout)["languages"][0]["breaks_inside_words"] == 0
