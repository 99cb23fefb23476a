"""Report pages and API as each role meets them: figures, due banners, the printable form, files, refusals."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import Session

from tests.server.conftest import Api, Clock
from tests.server.test_reports import feed
from tests.server.test_webui import Browser, Browsers

DAY = "from=2026-03-10&to=2026-03-10"
READERS = ("admin", "operator", "approver")


@pytest.fixture
def fed(session: Session, world: dict[str, int], clock: Clock) -> dict[str, int]:
    clock.now = datetime(2026, 3, 12, tzinfo=UTC)
    ids = feed(session, world)
    session.commit()
    return ids


def _api_paths(w: dict[str, int]) -> list[str]:
    return [f"/api/v1/reports/airtime?{DAY}", f"/api/v1/reports/availability?{DAY}", "/api/v1/reports/due",
            f"/api/v1/reports/range.xlsx?{DAY}", f"/api/v1/reports/range.csv?{DAY}",
            "/api/v1/reports/periodic/half_year?year=2026", "/api/v1/reports/periodic/annual/export.xlsx?year=2026",
            "/api/v1/reports/periodic/half_year/export.csv?year=2026", f"/api/v1/reports/slides/{w['slide']}?{DAY}",
            "/api/v1/reports/periodic/annual/export.pdf?year=2026", f"/api/v1/reports/range.pdf?{DAY}"]


def test_api_roles(api: Api, world: dict[str, int]) -> None:
    for path in _api_paths(world):
        assert api.anon.get(path).status_code == 401, path
        assert api.as_("translator").get(path).status_code == 403, path
        for role in READERS:
            assert api.as_(role).get(path).status_code == 200, (role, path)
    for path in ("/api/v1/reports/captions.csv", "/api/v1/reports/captions.json"):
        assert api.anon.get(path).status_code == 401
        for role in (*READERS, "translator"):
            assert api.as_(role).get(path).status_code == 200, (role, path)


def test_api_figures_and_files(api: Api, fed: dict[str, int], world: dict[str, int]) -> None:
    client = api.as_("operator")
    air = client.get(f"/api/v1/reports/airtime?{DAY}").json()
    assert (air["plays"], air["minutes"], air["skew_corrected"]) == (7, 700.0, 1)
    assert {r["key"]: (r["plays"], r["minutes"]) for r in air["by_language"]} == {
        "vi": (3, 490.0), "en": (2, 90.0), "km": (2, 120.0)}
    av = client.get(f"/api/v1/reports/availability?{DAY}").json()
    assert av["percent"] == 27.78
    a = next(s for s in av["screens"] if s["screen_id"] == fed["a"])
    assert (a["percent"], a["outages"][0]["kind"], a["outages"][0]["start"]) == (
        75.0, "offline", "2026-03-10T03:00:00+00:00")
    book = load_workbook(io.BytesIO(client.get(f"/api/v1/reports/range.xlsx?{DAY}").content))
    assert [r for r in book["Theo màn hình"].iter_rows(min_row=4, values_only=True)] == [
        ("hoa-lu-arrivals", 6, 640.0), ("hoa-lu-spare", 1, 60.0)]
    text = client.get(f"/api/v1/reports/range.csv?{DAY}").text
    assert ["Tổng số phút phát", "700.0"] in list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    runs = client.get(f"/api/v1/reports/slides/{world['slide']}?{DAY}").json()["runs"]
    assert [(r["screen_id"], r["plays"], r["minutes"]) for r in runs] == [(fed["a"], 4, 240.0), (fed["b"], 1, 60.0)]
    periodic = client.get("/api/v1/reports/periodic/half_year?year=2026").json()
    assert periodic["period"] == {"from": "2025-10-15", "to": "2026-04-14"}
    assert periodic["airtime"]["plays"] == 8  # the whole journal lies in the half year, a0 and a6 included
    assert client.get("/api/v1/reports/periodic/quarterly").status_code == 422
    assert "must not be before" in client.get("/api/v1/reports/airtime?from=2026-03-10&to=2026-03-01").text
    captions = api.as_("translator").get("/api/v1/reports/captions.json").json()
    assert captions[0]["captions"]["en"] == "Welcome to Viet Nam"


def test_due_banner_shows_from_30_days_before(browsers: Browsers, clock: Clock) -> None:
    clock.now = datetime(2026, 4, 19, 3, 0, tzinfo=UTC)  # 19 April local: 31 days before 20 May
    page = browsers["operator"].get("/reports").text
    assert "Báo cáo 6 tháng: còn" not in page and 'class="flash due"' not in page and "Báo cáo" in page
    clock.now = datetime(2026, 4, 20, 3, 0, tzinfo=UTC)
    page = Browser(browsers.app, "operator").get("/reports").text  # a fresh login: the old session expired
    assert "Báo cáo 6 tháng: còn 30 ngày" in page
    clock.now = datetime(2026, 10, 16, 3, 0, tzinfo=UTC)
    page = Browser(browsers.app, "approver").get("/reports").text
    assert "Báo cáo năm: còn 30 ngày" in page and "Báo cáo 6 tháng: còn" not in page


def test_reports_page_figures_and_translator_view(browsers: dict[str, Browser], fed: dict[str, int],
                                                   world: dict[str, int]) -> None:
    page = browsers["operator"].get(f"/reports?{DAY}").text
    assert re.search(r'id="total-plays">7<', page) and re.search(r'id="total-minutes">700<', page)
    assert re.search(r'id="fleet-percent">27,78 %<', page)
    assert page.count("<svg") == 3 and "<script" not in page.split("<main>")[1]
    assert f'href="/reports/slides/{world["slide"]}?{DAY.replace("&", "&amp;")}"' in page
    assert "Export XLSX" in page or "Xuất XLSX" in page
    limited = browsers["translator"].get("/reports")
    assert limited.status_code == 200 and 'id="total-plays"' not in limited.text
    assert "/api/v1/reports/captions.csv" in limited.text
    bad = browsers["operator"].get("/reports?from=yesterday")
    assert bad.status_code == 400


def test_printable_periodic_report(browsers: dict[str, Browser], fed: dict[str, int], clock: Clock) -> None:
    clock.now = datetime(2026, 4, 25, 3, 0, tzinfo=UTC)
    page = browsers["operator"].get("/reports/periodic/half_year").text
    assert "BÁO CÁO" in page and "6 tháng năm 2026" in page and "đầu năm" not in page
    assert "Kỳ báo cáo: từ ngày 15 tháng 10 năm 2025 đến hết ngày 14 tháng 4 năm 2026" in page
    assert "<title>Báo cáo 6 tháng năm 2026 (15/10/2025 – 14/04/2026)" in page
    assert "Ban Quản lý Khu kinh tế tỉnh Bình Phước" in page and "Kính gửi: Sở Thông tin và Truyền thông" in page
    assert "Nơi nhận:" in page and "Thủ trưởng đơn vị" in page and "ngày 25 tháng 4 năm 2026" in page
    assert "Kế hoạch số 58/KH-UBND" in page and "nhiệm vụ 5.7" in page
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".lower() in page.lower()
    assert re.search(r'id="total-plays">8<', page)
    assert re.search(r'id="fleet-percent">[0-9]+,[0-9]+ %<', page)  # Vietnamese decimal comma
    assert 'href="/api/v1/reports/periodic/half_year/export.pdf?year=2026"' in page
    assert page.count("<svg") == 3 and 'href="/static/reports.css"' in page and " style=" not in page
    annual = browsers["operator"].get("/reports/periodic/annual?year=2025").text
    assert "từ ngày 15 tháng 10 năm 2024 đến hết ngày 14 tháng 10 năm 2025" in annual and "năm 2025" in annual
    assert "năm năm" not in annual and "năm năm" not in page
    assert browsers["operator"].get("/reports/periodic/quarterly").status_code == 422
    assert browsers["operator"].get("/reports/periodic/annual?year=soon").status_code == 400


def test_slide_page(browsers: dict[str, Browser], fed: dict[str, int], world: dict[str, int]) -> None:
    page = browsers["operator"].get(f"/reports/slides/{world['slide']}?{DAY}").text
    assert "Chào mừng quý khách đến với Việt Nam" in page and re.search(r'id="total-plays">5<', page)
    assert f'data-screen="{fed["a"]}" data-day="2026-03-10"' in page


def test_pages_refuse_the_wrong_role(browsers: dict[str, Browser], app: Any, world: dict[str, int]) -> None:
    for url in ("/reports/periodic/half_year", f"/reports/slides/{world['slide']}"):
        assert browsers["translator"].get(url).status_code == 403, url
        assert browsers["operator"].get(url).status_code == 200, url
        assert browsers["approver"].get(url).status_code == 200, url
    anon = Browser(app, None)
    for url in ("/reports", "/reports/periodic/annual", f"/reports/slides/{world['slide']}"):
        gone = anon.get(url)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login"), url


def test_narrative_form_issue_button_and_commissioning_field(browsers: dict[str, Browser], fed: dict[str, int],
                                                             clock: Clock, world: dict[str, int]) -> None:
    clock.now = datetime(2026, 4, 25, 3, 0, tzinfo=UTC)
    url = "/reports/periodic/half_year?year=2026"
    page = browsers["operator"].get(url).text
    assert 'name="difficulties"' in page and "/reports/periodic/half_year/issue" not in page  # operators don't issue
    saved = browsers["operator"].post("/reports/periodic/half_year/narrative?year=2026",
                                      {"results": "Hai màn hình hoạt động <ổn định>.", "next_steps": "Lắp thêm."})
    assert saved.status_code == 303
    page = browsers["approver"].get(url).text
    assert "Hai màn hình hoạt động &lt;ổn định&gt;." in page and "/reports/periodic/half_year/issue" in page
    assert browsers["operator"].post("/reports/periodic/half_year/issue?year=2026", {}).status_code == 403
    assert browsers["approver"].post("/reports/periodic/half_year/issue?year=2026", {}).status_code == 303
    page = browsers["approver"].get(url).text
    assert "Báo cáo đã ban hành" in page and 'name="difficulties"' not in page
    late = browsers["operator"].post("/reports/periodic/half_year/narrative?year=2026", {"results": "sửa"})
    assert late.status_code == 303
    assert "báo cáo đã ban hành; nội dung và số liệu đã được chốt" in browsers["operator"].get(url).text
    # The admin names the screen for the reports and dates its handover.
    sid = fed["a"]
    form = browsers["admin"].get(f"/screens/{sid}").text
    assert 'name="display_name"' in form and 'name="commissioned_on" type="date" value="2026-03-01"' in form
    done = browsers["admin"].post(f"/screens/{sid}", {
        "name": "hoa-lu-arrivals", "display_name": "Màn hình sảnh nhập cảnh", "site_id": str(world["site"]),
        "width_px": "768", "height_px": "384", "pixel_pitch_mm": "5", "layout": "stacked",
        "languages": ["vi", "en", "km"], "on_time": "07:00", "off_time": "19:00", "commissioned_on": "2026-03-05"})
    assert done.status_code == 303
    form = browsers["admin"].get(f"/screens/{sid}").text
    assert 'value="Màn hình sảnh nhập cảnh"' in form and 'value="2026-03-05"' in form


def test_ticker_passes_in_the_api_the_page_and_the_pdf(api: Api, browsers: Browsers, fed: dict[str, int],
                                                      session: Session, world: dict[str, int]) -> None:
    import html

    from pypdf import PdfReader

    from tests.server.test_reports import _record, _send, z

    main_before = api.as_("operator").get(f"/api/v1/reports/airtime?{DAY}").json()
    passes = [_record(f"tick-{i}", world["slide"], world["playlist"], lang, z(10, 1 + i), 30).model_copy(
        update={"zone": "ticker"}) for i, lang in enumerate(("vi", "km", "vi"))]
    _send(session, fed["a"], z(10, 12), *passes)
    session.commit()
    client = api.as_("operator")
    assert client.get(f"/api/v1/reports/airtime?{DAY}").json() == main_before  # the main zone as it was
    ticker = client.get(f"/api/v1/reports/airtime?{DAY}&zone=ticker").json()
    assert (ticker["plays"], ticker["minutes"]) == (3, 90.0)
    assert {r["key"]: (r["plays"], r["minutes"]) for r in ticker["by_language"]} == {
        "vi": (2, 60.0), "en": (0, 0.0), "km": (1, 30.0)}
    assert client.get(f"/api/v1/reports/airtime?{DAY}&zone=side").status_code == 422
    periodic = client.get("/api/v1/reports/periodic/half_year?year=2026").json()
    assert periodic["ticker"]["plays"] == 3 and periodic["airtime"]["plays"] == 8

    page = html.unescape(browsers["operator"].get(f"/reports?{DAY}").text)
    assert 'id="ticker-passes">3<' in page and "Lượt chạy chữ" in page
    assert "không cộng vào thời lượng phát ở trên" in page
    assert re.search(r'data-by="ticker-language".*?Tiếng Khmer</td><td>1</td><td>30', page, re.S)
    assert 'id="total-plays">7<' in page  # the main zone's count, unchanged

    printed = client.get("/api/v1/reports/periodic/half_year/export.pdf?year=2026")
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(printed.content)).pages).split())
    for expected in ("Số lượt chạy chữ (vùng chữ chạy, tính riêng) 3", "h) Chữ chạy (tính riêng)",
                     "- Theo ngôn ngữ", "- Theo màn hình", "- Theo nội dung", "không cộng vào thời lượng phát"):
        assert expected in text, expected
