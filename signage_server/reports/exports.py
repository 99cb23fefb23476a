"""The same figures as tables for CSV and XLSX: one list of sections feeds both, so they cannot disagree."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from sqlmodel import Session

from signage_server.reports import service
from signage_server.reports.service import Airtime, AirtimeReport, Availability, CaptionRow, Period

Cell = str | int | float | None
TITLES = {"half_year": "Báo cáo 6 tháng", "annual": "Báo cáo năm", "range": "Báo cáo phát sóng"}
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "Tiếng Anh", "km": "Tiếng Khmer",
                  "unknown": "Không rõ (bản ghi trước khi ghi theo ngôn ngữ)"}
OUTAGE_KINDS = {"offline": "Mất kết nối", "not_playing": "Kết nối nhưng không phát"}


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything one report shows, computed once for the page, the charts and the files."""

    title: str
    unit: str
    period: Period
    tz: ZoneInfo
    airtime: AirtimeReport
    availability: list[Availability]
    fleet_percent: float | None
    by_day: list[tuple[date, float | None]]


def build(session: Session, *, title: str, unit: str, period: Period, tz: ZoneInfo, now: datetime,
          with_days: bool = True) -> Bundle:
    if with_days:
        avail, days = service.availability_with_days(session, period=period, tz=tz, now=now)
    else:
        avail, days = service.availability(session, period=period, tz=tz, now=now), []
    return Bundle(title, unit, period, tz, service.airtime(session, period=period, tz=tz), avail,
                  service.fleet_percent(avail), days)


def _airtime_rows(rows: list[Airtime], names: dict[str, str] | None = None) -> list[list[Cell]]:
    return [[(names or {}).get(a.label, a.label), a.plays, a.minutes] for a in rows]


def _language_rows(rows: list[Airtime]) -> list[list[Cell]]:
    return [[a.label, LANGUAGE_NAMES.get(a.language, a.language), a.plays, a.minutes] for a in rows]


def sections(b: Bundle) -> list[tuple[str, list[str], list[list[Cell]]]]:
    """(heading, column names, rows) in report order, Vietnamese headings as the Department's form has them."""
    local = b.tz
    head = ["Tên", "Số lượt phát", "Số phút"]
    a = b.airtime
    return [
        ("Tổng hợp", ["Chỉ tiêu", "Giá trị"], [
            ["Đơn vị báo cáo", b.unit],
            ["Kỳ báo cáo", f"{b.period.start:%d/%m/%Y} - {b.period.end:%d/%m/%Y}"],
            ["Tổng số lượt phát", a.plays],
            ["Tổng số phút phát", a.minutes],
            ["Tỷ lệ hoạt động (%)", b.fleet_percent],
            ["Lượt phát đã hiệu chỉnh giờ lệch", a.skew_corrected]]),
        ("Theo ngôn ngữ", ["Ngôn ngữ", "Số lượt phát", "Số phút"], _airtime_rows(a.by_language, LANGUAGE_NAMES)),
        ("Theo ngôn ngữ và điểm (cửa khẩu)", ["Điểm", "Ngôn ngữ", "Số lượt phát", "Số phút"],
         _language_rows(a.by_site_language)),
        ("Theo ngôn ngữ và màn hình", ["Màn hình", "Ngôn ngữ", "Số lượt phát", "Số phút"],
         _language_rows(a.by_screen_language)),
        ("Theo điểm (cửa khẩu)", head, _airtime_rows(a.by_site)),
        ("Theo màn hình", head, _airtime_rows(a.by_screen)),
        ("Theo danh sách phát (chiến dịch)", head, _airtime_rows(a.by_playlist)),
        ("Theo nội dung (slide)", head, _airtime_rows(a.by_slide)),
        ("Tỷ lệ hoạt động theo màn hình", ["Màn hình", "Điểm", "Giờ theo lịch", "Giờ trực tuyến",
                                           "Giờ trực tuyến và phát", "Tỷ lệ (%)"],
         [[r.screen, r.site, round(r.scheduled_s / 3600, 2), round(r.online_s / 3600, 2),
           round(r.available_s / 3600, 2), r.percent] for r in b.availability]),
        ("Sự cố gián đoạn", ["Màn hình", "Loại", "Bắt đầu", "Kết thúc", "Số phút"],
         [[r.screen, OUTAGE_KINDS[o.kind], f"{o.start.astimezone(local):%d/%m/%Y %H:%M:%S}",
           f"{o.end.astimezone(local):%d/%m/%Y %H:%M:%S}", o.minutes]
          for r in b.availability for o in r.outages]),
    ]


def _safe(value: Cell) -> Cell:
    """Spreadsheets run cells starting with = + - @ as formulas; a leading quote keeps them text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(b: Bundle) -> str:
    """One file, sections one after another under their headings; BOM so Excel reads the Vietnamese right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([b.title])
    for heading, columns, rows in sections(b):
        writer.writerow([])
        writer.writerow([heading])
        writer.writerow(columns)
        writer.writerows([[_safe(c) for c in row] for row in rows])
    return "\ufeff" + out.getvalue()


def to_xlsx(b: Bundle) -> bytes:
    """One sheet per section, headings bold; numbers stay numbers so the Department can sum them."""
    book = Workbook()
    first = True
    for heading, columns, rows in sections(b):
        sheet = book.active if first else book.create_sheet()
        first = False
        assert sheet is not None  # noqa: S101 - a new Workbook always has its active sheet
        sheet.title = heading[:31].replace("/", "-").replace("(", "").replace(")", "")
        sheet.append([b.title])
        sheet.append([heading])
        sheet.append(columns)
        for cell in (*sheet[1], *sheet[2], *sheet[3]):
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_safe(c) for c in row])
        for letter, width in zip("ABCDEF", (36, 18, 20, 22, 22, 12), strict=False):
            sheet.column_dimensions[letter].width = width
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


CAPTION_COLUMNS = ["slide_id", "slide", "vi", "en", "km", "approved_at"]


def captions_csv(rows: list[CaptionRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CAPTION_COLUMNS)
    for r in rows:
        writer.writerow([r.slide_id, _safe(r.slide), *(_safe(r.texts.get(lang, "")) for lang in ("vi", "en", "km")),
                         r.approved_at.isoformat() if r.approved_at else ""])
    return "\ufeff" + out.getvalue()


def captions_json(rows: list[CaptionRow]) -> str:
    """For the web portals: language codes as keys, missing translations as null."""
    return json.dumps([{"slide_id": r.slide_id, "slide": r.slide,
                        "captions": {lang: r.texts.get(lang) for lang in ("vi", "en", "km")},
                        "approved_at": r.approved_at.isoformat() if r.approved_at else None} for r in rows],
                      ensure_ascii=False, indent=1)
