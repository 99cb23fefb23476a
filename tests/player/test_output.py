"""Every output puts the exact pixels where they belong; off-hours blank without a shell."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from player_agent.config import BlankingOptions, PlayerSettings
from player_agent.output import BlankingOutput, OutputError, open_output
from player_agent.output.framebuffer import FramebufferOutput, encode_pixels, read_fb_info
from player_agent.output.null import NullOutput
from player_agent.output.png import PngOutput


def sample(width: int = 7, height: int = 3) -> Image.Image:
    """Distinct, non-trivial colours per pixel so any swapped channel or row shows."""
    img = Image.new("RGB", (width, height))
    img.putdata(
        [
            ((x * 37 + y * 11) % 256, (x * 91 + 3) % 256, (y * 53 + x * 7 + 200) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    return img


def pixels(img: Image.Image) -> list[tuple[int, int, int]]:
    return [img.getpixel((x, y)) for y in range(img.height) for x in range(img.width)]  # type: ignore[misc]


def fake_fb(tmp_path: Path, *, width: int, height: int, stride: int, bpp: int) -> Path:
    sysfs = tmp_path / "sys"
    (sysfs / "fb1").mkdir(parents=True)
    (sysfs / "fb1" / "virtual_size").write_text(f"{width},{height}\n")
    (sysfs / "fb1" / "stride").write_text(f"{stride}\n")
    (sysfs / "fb1" / "bits_per_pixel").write_text(f"{bpp}\n")
    device = tmp_path / "fb1"
    device.write_bytes(b"\xee" * stride * height)  # garbage, to see what gets overwritten
    return device


# -- framebuffer --------------------------------------------------------------------------
def test_rgb565_is_byte_exact() -> None:
    img = sample()
    expected = b"".join(
        struct.pack("<H", ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)) for r, g, b in pixels(img)
    )
    assert encode_pixels(img, 16) == expected
    # Known anchors: pure red, green, blue, white in little-endian RGB565.
    anchors = Image.new("RGB", (4, 1))
    anchors.putdata([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)])
    assert encode_pixels(anchors, 16) == bytes.fromhex("00f8e0071f00ffff")


def test_32bit_is_bgrx_byte_exact() -> None:
    img = sample()
    expected = b"".join(bytes((b, g, r, 0)) for r, g, b in pixels(img))
    assert encode_pixels(img, 32) == expected


@pytest.mark.parametrize("bpp", [16, 32])
def test_frame_lands_at_offset_with_stride(tmp_path: Path, bpp: int) -> None:
    bytes_pp = bpp // 8
    width, height = 16, 6
    stride = width * bytes_pp + 8  # padded lines, as many drivers have
    device = fake_fb(tmp_path, width=width, height=height, stride=stride, bpp=bpp)
    out = FramebufferOutput(device, sysfs_root=tmp_path / "sys", x=3, y=2)
    frame = sample(7, 3)
    out.show(frame)
    out.close()
    data = device.read_bytes()
    assert len(data) == stride * height, "the device file must not grow"
    rows = encode_pixels(frame, bpp)
    row_bytes = 7 * bytes_pp
    for y in range(height):
        line = data[y * stride : (y + 1) * stride]
        if 2 <= y < 5:
            start = 3 * bytes_pp
            assert (
                line[start : start + row_bytes] == rows[(y - 2) * row_bytes : (y - 1) * row_bytes]
            )
            assert line[:start] == b"\xee" * start
            assert line[start + row_bytes :] == b"\xee" * (stride - start - row_bytes)
        else:
            assert line == b"\xee" * stride


def test_full_width_frame_and_blank(tmp_path: Path) -> None:
    device = fake_fb(tmp_path, width=7, height=3, stride=28, bpp=32)
    out = FramebufferOutput(device, sysfs_root=tmp_path / "sys")
    out.show(sample())
    assert device.read_bytes() == encode_pixels(sample(), 32)
    out.blank()
    assert device.read_bytes() == bytes(28 * 3)


def test_framebuffer_errors_name_the_problem(tmp_path: Path) -> None:
    device = fake_fb(tmp_path, width=8, height=4, stride=24, bpp=24)
    with pytest.raises(OutputError, match="bits_per_pixel 24"):
        read_fb_info(tmp_path / "sys" / "fb1")
    (tmp_path / "sys" / "fb1" / "bits_per_pixel").write_text("16\n")
    out = FramebufferOutput(device, sysfs_root=tmp_path / "sys", x=4)
    with pytest.raises(OutputError, match=r"frame 7x3 does not fit"):
        out.show(sample())
    with pytest.raises(OutputError, match="cannot read"):
        read_fb_info(tmp_path / "sys" / "fb9")
    with pytest.raises(OutputError, match="cannot open"):
        FramebufferOutput(tmp_path / "dev" / "fb1", sysfs_root=tmp_path / "sys")


# -- png and null -------------------------------------------------------------------------
def test_png_output_is_lossless_and_atomic(tmp_path: Path) -> None:
    target = tmp_path / "screen.png"
    out = PngOutput(target, blank_size=(4, 2))
    frame = sample(960 // 40, 160 // 40).convert("RGBA")
    out.show(frame)
    with Image.open(target) as shown:
        assert shown.mode == "RGB" and pixels(shown) == pixels(frame.convert("RGB"))
    out.blank()
    with Image.open(target) as blank:
        assert blank.size == frame.size and set(pixels(blank)) == {(0, 0, 0)}
    assert [p.name for p in tmp_path.iterdir()] == ["screen.png"], "no temp files left"


def test_png_output_refuses_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        PngOutput(tmp_path / "nope" / "screen.png")


def test_factory_builds_the_configured_output(tmp_path: Path) -> None:
    out = open_output(PlayerSettings(state_dir=tmp_path, output="png"))
    assert isinstance(out, PngOutput) and out.path == tmp_path / "screen.png"
    assert isinstance(open_output(PlayerSettings(state_dir=tmp_path, output="null")), NullOutput)


# -- blanking -----------------------------------------------------------------------------
def test_blanking_holds_frames_and_acts_on_transitions_only() -> None:
    calls: list[tuple[str, ...]] = []

    def runner(argv: Sequence[str], timeout_s: float) -> int:
        calls.append(tuple(argv))
        return 0

    inner = NullOutput()
    out = BlankingOutput(
        inner,
        BlankingOptions(off_command=("panelctl", "off"), on_command=("panelctl", "on")),
        runner=runner,
    )
    out.show(sample())
    out.set_blank(True)
    out.set_blank(True)
    out.show(sample())  # off-hours: held back
    assert inner.frames == 1 and inner.blanks == 1
    out.set_blank(False)
    out.show(sample())
    assert inner.frames == 2
    assert calls == [("panelctl", "off"), ("panelctl", "on")]


def test_blanking_command_runs_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "off; touch injected"
    script = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('off')"
    out = BlankingOutput(
        NullOutput(),
        BlankingOptions(off_command=(sys.executable, "-c", script, str(marker))),
    )
    out.set_blank(True)
    assert marker.read_text() == "off"
    assert not (tmp_path / "injected").exists()
    assert out.last_error is None


def test_failing_command_is_reported_and_screen_still_black() -> None:
    inner = NullOutput()
    out = BlankingOutput(inner, BlankingOptions(off_command=("/nonexistent/panelctl",)))
    out.set_blank(True)
    assert inner.blanks == 1
    assert out.last_error is not None and "panelctl" in out.last_error


# -- window (pygame, SDL dummy driver) ----------------------------------------------------
WINDOW_CHECK = """
import os, sys
from PIL import Image
from player_agent.output.window import WindowOutput
out = WindowOutput(x=40, y=900, width=24, height=4)
frame = Image.new("RGB", (24, 4))
frame.putdata([((i * 13) % 256, (i * 7) % 256, (255 - i) % 256) for i in range(96)])
out.show(frame)
assert out.screen_bytes() == frame.tobytes(), "pixels differ"
assert not out.cursor_visible(), "cursor shown"
assert os.environ["SDL_VIDEO_WINDOW_POS"] == "40,900"
try:
    out.show(Image.new("RGB", (10, 4)))
except Exception as exc:
    assert "does not match the window 24x4" in str(exc), exc
else:
    raise AssertionError("wrong-size frame accepted")
out.blank()
assert set(out.screen_bytes()) == {0}, "not black"
out.close()
print("WINDOW OK")
"""


def test_window_output_under_sdl_dummy() -> None:
    pytest.importorskip("pygame")
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    done = subprocess.run(
        [sys.executable, "-c", WINDOW_CHECK], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "WINDOW OK" in done.stdout
