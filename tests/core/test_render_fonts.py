"""Font registry: fonts.toml chains, operator font files, coverage from the cmap, raqm required."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, features

from signage_core.render import FontRegistry, RenderError, Script, default_registry
from signage_core.render.fonts import BUILTIN_CONFIG, DEFAULT_FONTS_DIR, FontFace

VIETNAMESE_LETTERS = "ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵĐ"


def test_repo_fonts_toml_matches_the_builtin_chains() -> None:
    config = tomllib.loads((DEFAULT_FONTS_DIR / "fonts.toml").read_text(encoding="utf-8"))
    assert config == BUILTIN_CONFIG


def test_default_chains_use_the_font_packages() -> None:
    registry = default_registry()
    latin = [face.path.name for face in registry.chains[Script.LATIN]]
    khmer = [face.path.name for face in registry.chains[Script.KHMER]]
    assert latin[0] == "BeVietnamPro-SemiBold.ttf" and latin[-1].startswith("NotoSans[")
    assert khmer[0].startswith("NotoSansKhmer")
    assert registry.chains[Script("thai")][0].path.name.startswith("NotoSansThai")  # fontpkg
    # Lao and Chinese come from Debian's fonts-noto-* through fontconfig, the SC face of the .ttc.
    assert registry.chains[Script("lao")][0].path.name.startswith("NotoSansLao")
    han = registry.chains[Script("han")][0]
    assert han.path.name.startswith("NotoSansCJK") and han.index == 2
    assert registry.min_px == {Script.LATIN: 14, Script.KHMER: 18, "han": 16, "lao": 16, "thai": 16}


def test_coverage_comes_from_the_cmap() -> None:
    registry = default_registry()
    be_vietnam = registry.chains[Script.LATIN][0]
    khmer = registry.chains[Script.KHMER][0]
    assert be_vietnam.covers(VIETNAMESE_LETTERS + VIETNAMESE_LETTERS.upper())
    assert not be_vietnam.covers("ក")
    assert khmer.covers("សូមស្វាគមន៍០១២៖")
    assert not khmer.covers("中")
    assert not khmer.covers("\U0001f600")


def test_fonts_are_loaded_once_per_size() -> None:
    face = default_registry().chains[Script.KHMER][0]
    assert face.at(40) is face.at(40)
    assert face.at(40) is not face.at(41)
    assert face.at(40).size == 40


def _ink(face: FontFace) -> int:
    img = Image.new("L", (400, 80))
    ImageDraw.Draw(img).text((4, 60), "សូមស្វាគមន៍", font=face.at(48), fill=255, anchor="ls")
    return sum(img.tobytes())


def test_the_configured_weight_reaches_variable_fonts() -> None:
    path = default_registry().chains[Script.KHMER][0].path
    light = FontFace.load("light", path, 300)
    bold = FontFace.load("bold", path, 800)
    assert _ink(bold) > 1.3 * _ink(light)


def _config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "fonts.toml").write_text(body, encoding="utf-8")
    return tmp_path / "fonts.toml"


def test_an_operator_font_file_in_the_fonts_folder_is_used(tmp_path: Path) -> None:
    source = default_registry().chains[Script.KHMER][0].path
    shutil.copy(source, tmp_path / "OperatorKhmer.ttf")
    registry = FontRegistry.from_toml(
        _config(
            tmp_path,
            """
[fonts.op]
file = "OperatorKhmer.ttf"
[fonts.latin]
family = "Noto Sans"
[chains]
latin = ["latin"]
khmer = ["op", "latin"]
[min_px]
khmer = 20
""",
        )
    )
    assert registry.chains[Script.KHMER][0].path == tmp_path / "OperatorKhmer.ttf"
    assert registry.min_px[Script.KHMER] == 20
    assert registry.face_for("សូម", Script.KHMER) is registry.chains[Script.KHMER][0]
    assert registry.face_for("A", Script.LATIN) is registry.chains[Script.LATIN][0]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('[chains]\nlatin = ["nope"]\nkhmer = ["nope"]\n', "'nope'"),
        (
            '[fonts.x]\nfamily = "No Such Family"\n[chains]\nlatin = ["x"]\nkhmer = ["x"]\n',
            "No Such Family",
        ),
        ('[fonts.x]\nfile = "gone.ttf"\n[chains]\nlatin = ["x"]\nkhmer = ["x"]\n', "gone.ttf"),
        ('[fonts.x]\nfamily = "Noto Sans"\n[chains]\nlatin = ["x"]\n', "'khmer'"),
        ("[chains\n", "cannot read"),
    ],
)
def test_bad_font_configuration_names_what_is_wrong(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(RenderError, match=named.replace("(", r"\(")):
        FontRegistry.from_toml(_config(tmp_path, body))


def test_a_font_file_without_a_cmap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.ttf").write_bytes(b"\x00\x01\x00\x00" + b"\x00" * 60)
    body = '[fonts.x]\nfile = "junk.ttf"\n[chains]\nlatin = ["x"]\nkhmer = ["x"]\n'
    with pytest.raises(RenderError, match="junk.ttf"):
        FontRegistry.from_toml(_config(tmp_path, body))


def test_without_raqm_the_renderer_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    real = features.check_feature
    monkeypatch.setattr(
        features, "check_feature", lambda name: False if name == "raqm" else real(name)
    )
    with pytest.raises(RenderError, match="raqm"):
        FontRegistry.from_config(BUILTIN_CONFIG, base_dir=DEFAULT_FONTS_DIR, source="test")
