"""The periodic report as an official reads it: a real PDF, its text, the record frozen when issued."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from PIL import ImageFile
from pypdf import PdfReader
from sqlmodel import Session

from signage_server.reports import calendar, exports, pdf, record
from signage_server.reports.calendar import Period
from signage_server.screens import service as screens
from tests.server.conftest import Api, Clock
from tests.server.test_reports import NOW, TZ, feed

HALF = Period(date(2025, 10, 15), date(2026, 4, 14))  # the 2026 half-year report


def _text(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_is_an_a4_report_naming_the_plan_and_the_screens(session: Session, world: dict[str, int],
                                                             users: dict[str, Any], tmp_path: Path) -> None:
    ids = feed(session, world)
    screens.update_screen(session, actor=users["admin"], screen_id=ids["a"],
                          fields={"display_name": "Màn hình sảnh nhập cảnh Hoa Lư"}, now=NOW)
    screens.create_screen(session, actor=users["admin"], fields={
        "site_id": world["site"], "name": "hoa-lu-new", "display_name": "Màn hình chờ lắp đặt", "width_px": 64,
        "height_px": 32, "pixel_pitch_mm": 10.0, "languages": ["vi"]}, now=NOW)
    title = calendar.report_title("half_year", 2026, HALF)
    b = exports.build(session, title=title, unit="Ban Quản lý Khu kinh tế tỉnh", period=HALF, tz=TZ, now=NOW,
                      kind="half_year", year=2026, narrative={"difficulties": "Đường truyền tại Hoàng Diệu chập chờn."},
                      letterhead=exports.Letterhead("UBND tỉnh Đồng Nai", "Ban Quản lý Khu kinh tế tỉnh",
                                                    "Sở Khoa học và Công nghệ tỉnh Đồng Nai", "Đồng Nai"))
    data = pdf.to_pdf(b, today=date(2026, 3, 15))
    # WeasyPrint's import turns on Pillow's LOAD_TRUNCATED_IMAGES: uploads must still refuse cut images.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    (tmp_path / "report.pdf").write_bytes(data)
    assert data.startswith(b"%PDF-")
    reader, text = _text(data)
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)  # A4
    flat = " ".join(text.split())
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BÁO CÁO",
                     "58/KH-UBND", "nhiệm vụ 5.7", "6 tháng năm 2026",
                     "từ ngày 15 tháng 10 năm 2025 đến hết ngày 14 tháng 4 năm 2026", "Kính gửi: Sở Khoa học và Công nghệ tỉnh Đồng Nai",
                     "Màn hình sảnh nhập cảnh Hoa Lư", "Màn hình chờ lắp đặt", "Chưa đưa vào sử dụng",
                     "Đường truyền tại Hoàng Diệu chập chờn.", "KHÓ KHĂN, VƯỚNG MẮC", "THỦ TRƯỞNG ĐƠN VỊ"):
        assert expected in flat, expected
    assert "hoa-lu-arrivals" not in flat and "năm năm" not in flat
    assert "12,3 giờ" in flat  # 740 minutes as hours, Vietnamese decimal comma
    # Page numbers from the second page on, and the font of the font package embedded.
    assert len(reader.pages) >= 2
    first, second = reader.pages[0].extract_text().split(), reader.pages[1].extract_text().split()
    assert "2" in (second[0], second[-1]) and "1" not in (first[0], first[-1])
    fonts = {str(f["/BaseFont"]) for page in reader.pages
             for f in (page["/Resources"].get("/Font") or {}).values()}  # type: ignore[union-attr]
    assert fonts and all("Be-Vietnam-Pro" in f for f in fonts), fonts


def test_issued_report_is_frozen_and_reprinted_the_same(api: Api, session: Session, world: dict[str, int],
                                                         clock: Clock) -> None:
    feed(session, world)
    clock.now = datetime(2026, 4, 25, 3, 0, tzinfo=UTC)
    operator, approver = api.as_("operator"), api.as_("approver")
    r = operator.put("/api/v1/reports/periodic/half_year/narrative?year=2026",
                     json={"results": "Các màn hình hoạt động ổn định.", "proposals": "Bổ sung kinh phí."})
    assert r.status_code == 200, r.text
    assert operator.put("/api/v1/reports/periodic/half_year/narrative?year=2026",
                        json={"weather": "x"}).status_code == 422
    assert operator.post("/api/v1/reports/periodic/half_year/issue?year=2026").status_code == 403
    before = operator.get("/api/v1/reports/periodic/half_year?year=2026").json()
    assert before["issued_at"] is None and before["narrative"]["proposals"] == "Bổ sung kinh phí."
    assert approver.post("/api/v1/reports/periodic/half_year/issue?year=2026").status_code == 200
    # A late upload after issue changes the journal, not the record.
    from tests.server.test_reports import _record, _send, z
    _send(session, world["screen"], z(12, 0), _record("late", world["slide"], world["playlist"], "vi", z(11, 0), 60))
    session.flush()
    after = operator.get("/api/v1/reports/periodic/half_year?year=2026").json()
    assert after["issued_at"] and after["airtime"] == before["airtime"] and after["narrative"] == before["narrative"]
    assert operator.put("/api/v1/reports/periodic/half_year/narrative?year=2026",
                        json={"results": "sửa"}).status_code == 409
    assert approver.post("/api/v1/reports/periodic/half_year/issue?year=2026").status_code == 409
    got = operator.get("/api/v1/reports/periodic/half_year/export.pdf?year=2026")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    flat = " ".join(_text(got.content)[1].split())
    assert "Các màn hình hoạt động ổn định." in flat and "Bổ sung kinh phí." in flat
    assert "ngày 25 tháng 4 năm 2026" in flat  # dated the day it was issued
    row = record.find(session, kind="half_year", year=2026)
    assert row is not None and record.bundle_of(row.snapshot or {}).airtime.plays == before["airtime"]["plays"]
