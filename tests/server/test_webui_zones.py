"""The zones form on a screen's page: a picture of each template at the screen's native size, saved to the manifest."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

from PIL import Image
from sqlmodel import Session

from signage_server.manifests import service as manifests
from signage_server.slides import service as slides
from tests.server.test_webui import Browsers
from tests.server.world import NOW


def test_admin_picks_a_template_from_its_pictures_and_the_screen_gets_it(
        session: Session, app: Any, users: Any, world: dict[str, int], browsers: Browsers) -> None:
    app.state.manifest_recompiler.install(session)
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    admin, screen = browsers["admin"], world["screen"]
    page = html.unescape(admin.get(f"/screens/{screen}").text)
    assert "Vùng hiển thị" in page and "nội dung chính + dải thông tin + chữ chạy" in page
    pictures = re.findall(r'<img class="frame" src="(/screens/\d+/zones/\w+\.png)" width="(\d+)" height="(\d+)"', page)
    assert [p[1:] for p in pictures] == [("768", "384")] * 3  # native size, one per template
    shot = admin.get(pictures[2][0])
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(shot.content)).convert("RGB")
    assert image.size == (768, 384)
    strip_row = image.crop((0, 285, 768, 320))  # the strip band of main_strip_ticker at 768×384 (y 280-326)
    assert strip_row.getpixel((1, 1)) == (0, 40, 90) and strip_row.getextrema()[0][1] > 200  # dark blue, white text
    assert admin.get(f"/screens/{screen}/zones/nonsense.png").status_code == 404
    assert browsers["operator"].get(pictures[0][0]).status_code in (303, 403)

    saved = admin.follow(admin.post(f"/screens/{screen}/zones", {
        "template": "main_strip_ticker", "ticker_playlist_id": str(world["playlist"]),
        "widgets": ["clock", "lunar_date"], "temperature_feed": "", "rates_feed": ""}))
    assert "Đã lưu." in saved.text
    record = manifests.latest_manifest(session, screen_id=screen)
    assert record is not None
    zones = json.loads(record.envelope)["body"]["zones"]
    assert zones["template"] == "main_strip_ticker" and [w["kind"] for w in zones["widgets"]] == ["clock", "lunar_date"]

    refused = html.unescape(admin.follow(admin.post(f"/screens/{screen}/zones", {
        "template": "main_side", "widgets": ["rates"], "rates_feed": ""})).text)
    assert 'class="flash error"' in refused and "vùng hiển thị không hợp lệ" in refused

    gone = admin.follow(admin.post(f"/screens/{screen}/zones", {"template": ""}))
    assert "Đã lưu." in gone.text
    record = manifests.latest_manifest(session, screen_id=screen)
    assert record is not None and "zones" not in json.loads(record.envelope)["body"]


def test_a_slide_preview_on_a_zoned_screen_is_the_whole_composed_frame(
        session: Session, app: Any, users: Any, world: dict[str, int], browsers: Browsers) -> None:
    from signage_server.screens.models import Screen

    screen = session.get_one(Screen, world["screen"])
    screen.zones = {"template": "main_strip_ticker", "widgets": [{"kind": "clock"}]}
    session.add(screen)
    session.commit()
    shot = browsers["translator"].get(f"/slides/{world['slide']}/preview/{world['screen']}.png")
    assert shot.status_code == 200
    image = Image.open(io.BytesIO(shot.content)).convert("RGB")
    assert image.size == (768, 384)  # the native size, not the main zone's 768×281
    assert image.getpixel((1, 290)) == (0, 40, 90)  # the strip's band below the slide
    ticker_band = image.crop((0, 330, 768, 384))
    assert ticker_band.getextrema()[0][1] > 200  # the ticker scrolls the slide's own captions
