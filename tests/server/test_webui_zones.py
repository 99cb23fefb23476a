"""The zones form on a screen's page: a picture of each template at the screen's native size, saved to the manifest."""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Mapping
from typing import Any

from PIL import Image
from sqlmodel import Session, select

from signage_core.languages import Language
from signage_core.render import TickerStrip
from signage_core.screen import zoned_specs
from signage_core.zones import ZonesSpec, ZoneTemplate
from signage_server.alerts import service as alerts
from signage_server.audit.models import AuditEvent
from signage_server.manifests import service as manifests
from signage_server.screens import zones as screen_zones
from signage_server.screens.models import Screen
from signage_server.screens.service import layout_of
from signage_server.slides import service as slides
from tests.server.test_webui import Browsers
from tests.server.test_webui_ops import RecordingBroker
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


def _confirm_preview(browser: Any, form: dict[str, Any]) -> tuple[str, Image.Image]:
    import base64

    page = browser.post("/alerts/confirm", form)
    assert page.status_code == 200, page.text
    found = re.findall(r'src="data:image/png;base64,([^"]+)"', page.text)
    assert len(found) == 1
    return html.unescape(page.text), Image.open(io.BytesIO(base64.b64decode(found[0]))).convert("RGB")


def test_an_admin_chooses_what_an_alert_covers_and_the_confirm_page_draws_it(
        session: Session, app: Any, users: Any, world: dict[str, int], browsers: Browsers) -> None:

    screen = session.get_one(Screen, world["screen"])
    screen.zones = {"template": "main_strip_ticker", "widgets": [{"kind": "clock"}]}
    session.add(screen)
    session.commit()
    template = next(t for t in alerts.list_templates(session) if t.key == "border-closure")
    assert template.cover == "full"
    admin, approver = browsers["admin"], browsers["approver"]
    page = html.unescape(admin.get("/alerts").text)
    assert f'action="/alerts/templates/{template.id}/cover"' in page and "Vùng chính (giữ dải thông tin, chữ chạy)" in page
    assert "/cover" not in approver.get("/alerts").text  # approvers launch templates, they do not edit them

    form = {"template_id": str(template.id), "minutes": "30", "screen_ids": [str(world["screen"])]}
    full_page, full = _confirm_preview(approver, form)
    assert "cảnh báo chiếm: Toàn màn hình" in full_page
    assert full.size == (768, 384) and full.getpixel((1, 290)) == (170, 0, 0)  # red over where the strip was

    url = f"/alerts/templates/{template.id}/cover"
    assert approver.post(url, {"cover": "main"}).status_code == 303
    session.refresh(template)
    assert template.cover == "full"  # refused on the server: the form is the admin's only
    refused = html.unescape(admin.follow(admin.post(url, {"cover": "sidebar"})).text)
    assert 'class="flash error"' in refused and "không nhận giá trị 'sidebar'" in refused
    assert admin.client.post(url, data={"cover": "main"}).status_code == 403  # no CSRF token
    saved = admin.follow(admin.post(url, {"cover": "main"}))
    assert "Đã lưu." in saved.text
    session.refresh(template)
    assert template.cover == "main"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "alert_template.cover")).one()
    assert event.before == {"key": "border-closure", "cover": "full"} and event.after["cover"] == "main"
    audit_page = html.unescape(admin.get("/audit").text)
    assert "Đã đổi phạm vi che của mẫu cảnh báo" in audit_page and "chỉ vùng nội dung chính" in audit_page

    main_page, main = _confirm_preview(approver, form)
    assert "cảnh báo chiếm: Vùng chính" in main_page
    assert main.size == full.size and main.tobytes() != full.tobytes()
    assert main.getpixel((1, 290)) == (0, 40, 90)  # the strip stays under a main-zone alert
    assert main.getpixel((1, 1)) == (170, 0, 0)  # the alert's red fills the main zone
    assert main.crop((0, 330, 768, 384)).getextrema()[0][1] < 30  # no ticker playlist: the ticker stays dark

    app.state.transport = RecordingBroker()
    try:
        launched = approver.post("/alerts/launch", form)
        assert launched.status_code == 303 and not launched.headers["location"].endswith("/alerts")
        (_topic, payload), = app.state.transport.published
    finally:
        app.state.transport = None
    assert json.loads(payload)["body"]["cover"] == "main"


def test_the_zone_pictures_scroll_the_screens_real_ticker_message(
        session: Session, app: Any, users: Any, world: dict[str, int], browsers: Browsers) -> None:

    app.state.manifest_recompiler.install(session)
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    admin, screen_id = browsers["admin"], world["screen"]
    picture = f"/screens/{screen_id}/zones/main_strip_ticker.png"
    zoned = zoned_specs(layout_of(session.get_one(Screen, screen_id)),
                        ZonesSpec(template=ZoneTemplate("main_strip_ticker")))
    assert zoned.ticker is not None and zoned.rects.ticker is not None
    ticker, rect = zoned.ticker, zoned.rects.ticker
    band = (rect.left, rect.top, rect.left + rect.width, rect.top + rect.height)

    def ticker_band(url: str) -> bytes:
        shot = admin.get(url)
        assert shot.status_code == 200
        return Image.open(io.BytesIO(shot.content)).convert("RGB").crop(band).tobytes()

    def drawn(captions: Mapping[Language, str]) -> bytes:
        shown = {lang: text for lang, text in captions.items() if lang in ticker.languages}
        return TickerStrip(ticker, shown).frame(ticker.width - ticker.margin).tobytes()

    assert ticker_band(picture) == drawn(screen_zones.TICKER_LABELS)  # no ticker playlist: the zone's label
    admin.post(f"/screens/{screen_id}/zones", {"template": "main_strip_ticker",
                                               "ticker_playlist_id": str(world["playlist"]), "widgets": ["clock"]})
    record = manifests.latest_manifest(session, screen_id=screen_id)
    assert record is not None
    body = json.loads(record.envelope)["body"]
    first = body["playlists"][body["zones"]["ticker_playlist"]]["items"][0]["slide_id"]
    message = {Language(k): v for k, v in body["slides"][first]["captions"].items()}
    real = drawn(message)
    assert real != drawn(screen_zones.TICKER_LABELS)
    assert ticker_band(picture) == real  # the message the player scrolls, as its manifest carries it
    slide_shot = admin.get(f"/slides/{world['pending_slide']}/preview/{screen_id}.png")
    assert Image.open(io.BytesIO(slide_shot.content)).convert("RGB").crop(band).tobytes() == real
