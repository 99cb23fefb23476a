"""Issue 15, the slide pages: previews that never fail, a slide list a person can use, retiring a slide,
and the readability check at preview and approval."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from sqlmodel import select

from signage_server.config import Settings
from signage_server.screens import service as screens
from signage_server.slides.models import Slide
from tests.server.conftest import TEST_SECRET
from tests.server.test_webui import Browsers
from tests.server.world import NOW, png


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("var"), secret_key=TEST_SECRET, migrate_on_start=False)


@pytest.fixture
def browsers(app: Any, world: dict[str, int]) -> Browsers:
    return Browsers(app)


def _fresh_picture_slide(browsers: Browsers, session: Any, name: str) -> int:
    """What an operator does first: drop a picture on the slides page; no caption yet."""
    b = browsers["operator"]
    done = b.post("/slides/upload", files=[("files", (f"{name}.png", png(64, 32, (220, 20, 20)), "image/png"))])
    assert done.status_code == 303, done.text
    slide = session.exec(select(Slide).where(Slide.name == name)).one()
    return slide.id  # type: ignore[no-any-return]


def test_a_slide_without_captions_previews_its_picture_on_every_layout(
        browsers: Browsers, world: dict[str, int], session: Any, users: Any) -> None:
    rotate = screens.create_screen(session, actor=users["admin"], fields={
        "site_id": world["site"], "name": "hoa-lu-rotate", "width_px": 384, "height_px": 192,
        "pixel_pitch_mm": 5.0, "layout": "rotate", "languages": ["vi", "en"]}, now=NOW)
    session.commit()
    sid = _fresh_picture_slide(browsers, session, "bien-bao")
    b = browsers["operator"]
    layouts = {}
    for screen_id in (world["screen"], world["spare_screen"], rotate.id):
        shot = b.get(f"/slides/{sid}/preview/{screen_id}.png")
        assert shot.status_code == 200 and shot.headers["content-type"] == "image/png", (screen_id, shot.text[:200])
        screen = screens.get_screen(session, screen_id=screen_id)  # type: ignore[arg-type]
        layouts[screen.layout.value] = screen_id
        with Image.open(io.BytesIO(shot.content)) as img:
            assert img.size == (screen.width_px, screen.height_px)
            red, green, _blue = img.convert("RGB").getpixel((screen.width_px // 2, screen.height_px // 2))
            assert red > 100 and green < 60, (screen.layout, red, green)  # the picture, not a black frame
        # The same for the frame of one language, and for text being typed that the renderer refuses.
        assert b.get(f"/slides/{sid}/preview/{screen_id}.png", params={"lang": "vi", "vi": ""}).status_code == 200
    assert set(layouts) == {"stacked", "rotate", "ticker"}
    data = b.get(f"/slides/{sid}/preview.json").json()
    notes = {s["id"]: s["note"] for s in data["screens"]}
    assert all(notes[i].startswith("Chưa có chú thích") for i in layouts.values()), notes
    page = b.get(f"/slides/{sid}")
    assert page.status_code == 200 and page.text.count("Chưa có chú thích: bản xem trước chỉ hiện ảnh") >= 3
    typed = b.get(f"/slides/{sid}/preview.json", params={"vi": "Xin chào"}).json()
    assert not any(s["note"] for s in typed["screens"])
    english = b.get(f"/slides/{sid}/preview.json", cookies={"signage_lang": "en"}).json()
    assert all(s["note"].startswith("No caption yet") for s in english["screens"])
