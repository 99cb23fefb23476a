"""Issue 15 in a real Chromium, in Vietnamese: no English on error paths, local times, the calendar's own
lunar dates, the audit log's change view, and the new-schedule form keeping what was typed.

Screenshots of each page are left in SIGNAGE_SCREENSHOT_DIR when it is set (1366 px wide).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import lunar_vn
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage_core.protocol import ScreenshotHeader
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, saved_id, upgrade_to_head
from signage_server.playlists import service as playlists
from signage_server.schedules import service as schedules
from signage_server.screens import service as screens
from signage_server.telemetry import service as telemetry
from signage_server.users import service as users
from signage_server.users.models import Role
from tests.e2e.conftest import PASSWORD, require_chromium, serving
from tests.server.world import png

pytestmark = pytest.mark.browser
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # 15:00 in Hà Nội
# Words that must not appear in a Vietnamese page's error messages (the raw English the issue found).
ENGLISH = ("Input should", "must look like", "must be", "is required", "not found", "does not exist", "exists",
           "lunar ", "solar ", "valid", "UTC", "Border closure", "Disease control", "Severe weather",
           "caption.approve", "slide.create", "\\u")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine, dict[str, int]]]:
    require_chromium()
    settings = Settings(data_dir=tmp_path_factory.mktemp("plain-vi-e2e"), secret_key="e2e-secret-" + "v" * 40,
                        mqtt_enabled=False, run_scheduler=False)
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with Session(engine) as session:
        admin = users.create_user(session, actor=None, username="admin", display_name="Quản trị", role=Role.ADMIN,
                                  password=PASSWORD, languages=[], now=NOW)
        site = screens.create_site(session, actor=None, slug="hoa-lu", name="Hoa Lư", now=NOW)
        main = playlists.create_playlist(session, actor=admin, name="hoa-lu-main", now=NOW)
        screen = screens.create_screen(session, actor=admin, fields={
            "site_id": site.id, "name": "hoa-lu-arrivals", "width_px": 768, "height_px": 384,
            "pixel_pitch_mm": 5.0, "languages": ["vi", "en", "km"], "default_playlist_id": main.id,
            "on_time": time(5, 30), "off_time": time(22, 30)}, now=NOW)
        schedules.create_schedule(session, actor=admin, fields={
            "name": "ram-thang-gieng", "playlist_id": main.id, "priority": 1,
            "rule": {"dates": [{"kind": "lunar", "day": 15, "month": 1}]}}, screen_ids=[saved_id(screen)], now=NOW)
        screens.update_screen(session, actor=admin, screen_id=saved_id(screen),
                              fields={"display_name": "Hoa Lư – sảnh đến"}, now=NOW)
        # A thumbnail taken an hour ago: more than two 5-minute periods, so the dashboard calls it old.
        taken = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        telemetry.record_screenshot(session, screen_id=saved_id(screen), header=ScreenshotHeader(
            command_id="c1", taken_at=taken, content_type="image/png", length=1), image=png(768, 384),
            received_at=taken, root=settings.screenshots_dir)
        session.commit()
        ids = {"screen": saved_id(screen), "playlist": saved_id(main)}
    with serving(create_app(settings, engine=engine)) as url:
        yield url, engine, ids
    engine.dispose()


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("SIGNAGE_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _no_english(text: str, where: str) -> None:
    found = [w for w in ENGLISH if w in text]
    assert not found, (where, found, text[:600])


@pytest.fixture(scope="module")
def page(served: tuple[str, Engine, dict[str, int]], chromium: Any) -> Any:
    base = served[0]
    tab = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="vi-VN").new_page()
    tab.set_default_timeout(15_000)
    tab.goto(base + "/login")
    tab.fill("#username", "admin")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("nav")
    return tab


def test_new_schedule_form_keeps_every_typed_value_and_says_what_is_wrong_in_vietnamese(
        served: tuple[str, Engine, dict[str, int]], page: Any) -> None:
    base, _engine, ids = served
    page.goto(base + "/schedules")
    form = page.locator("#new-schedule")
    form.locator("#sc-name").fill("đêm Tết")
    form.locator("#sc-priority").fill("3")
    form.locator("#sc-windows").fill("25:00-26:00")
    form.locator("#sc-dates").fill("âm lịch 1/1\ndương lịch 30/4")
    form.locator("input[name=weekdays][value='5']").check()
    form.locator(f"input[name=screen_ids][value='{ids['screen']}']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".field-error")
    error = page.inner_text("#sc-windows-error")
    assert "Khung giờ 1" in error and "giờ không hợp lệ" in error
    _no_english(page.inner_text("main"), "schedule form error")
    # Everything typed is still there.
    assert page.input_value("#sc-name") == "đêm Tết" and page.input_value("#sc-priority") == "3"
    assert page.input_value("#sc-windows") == "25:00-26:00"
    assert page.input_value("#sc-dates") == "âm lịch 1/1\ndương lịch 30/4"
    assert page.is_checked("input[name=weekdays][value='5']")
    assert page.is_checked(f"input[name=screen_ids][value='{ids['screen']}']")
    _shot(page, "schedules-error")
    # The Vietnamese date forms the app prints are accepted as input.
    page.fill("#sc-windows", "06:00-08:00")
    page.locator("#new-schedule button[type=submit]").click()
    page.wait_for_selector("text=Đã lưu lịch.")
    row = page.locator("tr", has_text="đêm Tết").inner_text()
    assert "âm lịch 1/1" in row and "dương lịch 30/4" in row


def test_calendar_heads_carry_each_day_s_lunar_date_and_events_keep_to_on_hours(
        served: tuple[str, Engine, dict[str, int]], page: Any) -> None:
    base, _engine, ids = served
    page.goto(base + f"/screens/{ids['screen']}/calendar?week=2026-03-02")
    heads = page.locator("thead th")
    assert heads.count() == 7
    for i in range(7):
        day = date(2026, 3, 2) + timedelta(days=i)
        lunar = lunar_vn.convert_solar_to_lunar(day.day, day.month, day.year, time_zone=7)
        assert f"âm lịch {int(lunar.day)}/{int(lunar.month)}" in heads.nth(i).inner_text(), day
    cells = page.locator("tbody td")
    tuesday = cells.nth(1).inner_text()
    assert "âm lịch 15/1" in tuesday and "âm lịch 15/1" not in cells.nth(0).inner_text()
    heading = page.inner_text("h1")
    assert "Hoa Lư – sảnh đến" in heading and page.inner_text("h1 small.slug") == "hoa-lu-arrivals"
    text = page.inner_text("main")
    assert "05:30–" in text and "00:00–" not in text and "–24:00" not in text and "22:30" in text
    _shot(page, "calendar")


def test_times_are_local_with_the_zone_named_once(served: tuple[str, Engine, dict[str, int]], page: Any) -> None:
    base = served[0]
    page.goto(base + "/audit")
    note = page.inner_text("#zone-note")
    assert "Asia/Ho_Chi_Minh" in note and "UTC+07:00" in note
    assert page.locator("#zone-note").count() == 1 and "UTC" not in page.inner_text("table.audit")
    first = page.locator("table.audit tbody tr").last.locator("time").inner_text()  # the oldest: made at NOW
    assert re.fullmatch(r"01/03/2026 15:00:00", first), first  # 08:00 UTC written at NOW


def test_audit_log_reads_as_changes_in_vietnamese(served: tuple[str, Engine, dict[str, int]], page: Any) -> None:
    base = served[0]
    page.goto(base + "/audit")
    page.select_option("#entity", "screen")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r"entity=screen"))
    changed = page.locator("tr[data-action='screen.update']").first
    text = changed.inner_text()
    assert "Sửa màn hình" in text and "Tên hiển thị: — → Hoa Lư – sảnh đến" in text.replace("\n", " ")
    _no_english(page.inner_text("main"), "audit")
    _shot(page, "audit")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.querySelector('header.top').scrollWidth,"
                           " document.querySelector('table.audit').scrollWidth]")
    assert max(widths) <= 1366, widths


def test_pages_and_refusals_carry_no_english(served: tuple[str, Engine, dict[str, int]], page: Any) -> None:
    base, _engine, ids = served
    for url in ("/dashboard", "/schedules", "/alerts", "/groups", "/screens", f"/screens/{ids['screen']}",
                "/playlists", f"/playlists/{ids['playlist']}", "/users", "/audit?since=hôm-qua"):
        page.goto(base + url)
        _no_english(page.inner_text("main"), url)
        _shot(page, "page" + url.replace("/", "-").split("?")[0])
    # A refused new screen comes back with what was typed, the refusal in Vietnamese.
    page.goto(base + "/screens")
    page.fill("#display_name", "Mộc Bài – lối ra")
    page.fill("#name", "hoa-lu-arrivals")  # taken
    page.fill("#width_px", "960")
    page.click("form[action='/screens'] button[type=submit]")
    page.wait_for_selector(".flash.error")
    assert "đã có màn hình tên" in page.inner_text(".flash.error")
    assert page.input_value("#display_name") == "Mộc Bài – lối ra" and page.input_value("#width_px") == "960"
    _shot(page, "screens-refused")
    page.goto(base + "/audit?since=hôm-qua")
    assert "Từ ngày phải là ngày như" in page.inner_text("main")
    page.goto(base + "/alerts")
    _no_english(page.inner_text("main"), "alerts")
    assert "Đóng cửa khẩu" in page.inner_text("main")
    _shot(page, "alerts")
    # The alert with the approver's own text, previewed as the screen will draw it before launch.
    radio = page.locator("input[name=template_id] >> nth=0").bounding_box()
    assert radio is not None and radio["width"] < 40, radio  # beside its template's name, not a line of its own
    page.check("input[name=template_id] >> nth=0")
    page.check(f"input[name=screen_ids][value='{ids['screen']}']")
    page.fill("#text-vi", "Cửa khẩu đóng cửa đến 17:00 hôm nay")
    page.click("form[action='/alerts/confirm'] button[type=submit]")
    page.wait_for_selector("figure.alert-preview img.frame")
    assert "Cửa khẩu đóng cửa đến 17:00 hôm nay" in page.inner_text("ul.alert-captions")
    assert page.evaluate("document.querySelector('figure.alert-preview img').naturalWidth") == 768
    _no_english(page.inner_text("main"), "alert confirm")
    _shot(page, "alert-confirm")
    page.goto(base + "/dashboard")
    shot = page.locator("td[data-field=thumbnail]")
    local_taken = (datetime.now(UTC) - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert "ảnh cũ" in shot.inner_text() and local_taken.strftime("%d/%m %H:") in shot.inner_text()
    assert "stale" in (shot.get_attribute("class") or "")
    _shot(page, "dashboard")
    # The admin's header fits on one line at 1366 px; the account links open under the name.
    box = page.locator("header.top").bounding_box()
    assert box is not None and box["height"] < 50, box
    assert page.evaluate("document.querySelector('header.top').scrollWidth") <= 1366  # no sideways scroll
    page.click("header.top details.me summary")
    assert page.is_visible("header.top .me-panel button[type=submit]")
    _shot(page, "header-open")
    favicon = page.request.get(base + "/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"] == "image/x-icon"


def test_service_refusals_and_the_upload_script_speak_vietnamese(
        served: tuple[str, Engine, dict[str, int]], page: Any) -> None:
    """The refusals a service raises (a playlist item too short to read, a site's distance out of range) and
    the drag-and-drop upload's refusal (through the API's error.display) read in Vietnamese."""
    from signage_server.captions import service as captions
    from signage_server.slides import service as slides

    base, engine, ids = served
    with Session(engine) as session:
        admin = users.find_user(session, username="admin")
        slide = slides.create_slide(session, actor=admin, name="quy-dinh-xuat-canh", now=NOW)
        captions.write_caption(session, actor=admin, slide_id=saved_id(slide), language="vi",
                               text=" ".join(["Quý khách vui lòng xuất trình hộ chiếu"] * 4), now=NOW)
        session.commit()
        slide_id = slide.id
    page.goto(base + f"/playlists/{ids['playlist']}")
    page.select_option("#add_slide", str(slide_id))
    page.fill("#add_duration", "3")
    page.click("#add-button")
    page.wait_for_selector(".flash.error")
    said = page.inner_text(".flash.error")
    assert "cần khoảng 11 giây để đọc" in said and "chỉ hiện 3 giây" in said, said
    _no_english(page.inner_text("main"), "playlist refused")
    _shot(page, "playlist-refused")
    page.goto(base + "/screens")
    page.locator("form.site-row input[name=viewing_distance_m]").first.evaluate("el => el.removeAttribute('min')")
    page.locator("form.site-row input[name=viewing_distance_m]").first.fill("-4")
    page.locator("form.site-row button[type=submit]").first.click()
    page.wait_for_selector(".flash.error")
    assert "khoảng cách xem phải lớn hơn 0" in page.inner_text(".flash.error")
    _no_english(page.inner_text("main"), "site refused")
    page.goto(base + "/slides")
    page.set_input_files("#files", files=[{"name": "bang.png", "mimeType": "image/png",
                                           "buffer": b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>"}])
    page.wait_for_selector("#upload-list .bad")
    refused = page.inner_text("#upload-list")
    assert "Không nhận SVG, HTML hay tập lệnh" in refused, refused
    _no_english(refused.replace("bang.png", ""), "upload refused")
    _shot(page, "upload-refused")
