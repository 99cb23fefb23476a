"""The same figures as tables for CSV and XLSX: one list of sections feeds both, so they cannot disagree."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.chart import BarChart, LineChart, Reference  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from sqlmodel import Session

from signage_core.languages import names
from signage_server.reports import activity, service
from signage_server.reports.activity import AlertSummary, LanguageCount
from signage_server.reports.calendar import Period
from signage_server.reports.service import (
    Airtime,
    AirtimeReport,
    Availability,
    CaptionRow,
    NotCounted,
)

Cell = str | int | float | None
TITLES = {"half_year": "Báo cáo 6 tháng", "annual": "Báo cáo năm", "range": "Báo cáo phát sóng"}
LANGUAGE_NAMES = names("vi", {"unknown": "Không rõ (bản ghi trước khi ghi theo ngôn ngữ)"})
OUTAGE_KINDS = {"offline": "Mất kết nối", "not_playing": "Kết nối nhưng không phát"}
NOT_COUNTED = {"pending": "Chưa đưa vào sử dụng (chưa kết nối lần đầu)",
               "later": "Đưa vào sử dụng sau kỳ báo cáo", "revoked": "Đã thu hồi trước kỳ báo cáo"}
NARRATIVE = {"results": "Kết quả đạt được", "difficulties": "Khó khăn, vướng mắc",
             "proposals": "Đề xuất, kiến nghị", "next_steps": "Nhiệm vụ, giải pháp thời gian tới"}
PLAN = ("Kế hoạch số 58/KH-UBND ngày 07/03/2022 của Ủy ban nhân dân tỉnh về công tác thông tin đối ngoại, "
        "nhiệm vụ 5.7: tuyên truyền trên hệ thống màn hình LED tại các cửa khẩu bằng tiếng Việt và tiếng nước "
        "ngoài")


@dataclass(frozen=True, slots=True)
class Letterhead:
    """Who reports to whom: settings, since the province's bodies are reorganised from time to time."""

    parent: str = ""
    unit: str = ""
    recipient: str = ""
    place: str = ""


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything one report shows, computed once for the page, the charts and the files.

    An issued periodic report keeps its Bundle as JSON (reports.record) and is printed again from it.
    """

    title: str
    unit: str
    period: Period
    tz: ZoneInfo
    airtime: AirtimeReport
    availability: list[Availability]
    fleet_percent: float | None
    by_day: list[tuple[date, float | None]]
    kind: str = "range"
    year: int | None = None
    letterhead: Letterhead = field(default_factory=Letterhead)
    not_counted: list[NotCounted] = field(default_factory=list)
    content: list[LanguageCount] = field(default_factory=list)
    alerts: AlertSummary | None = None
    narrative: dict[str, str] = field(default_factory=dict)
    generated_at: datetime | None = None
    issued_at: datetime | None = None
    # The ticker zone's passes, apart from `airtime` (they scroll while the slides play); None in reports
    # issued before ticker passes were reported.
    ticker: AirtimeReport | None = None

    @property
    def has_ticker(self) -> bool:
        return self.ticker is not None and (self.ticker.plays > 0 or self.ticker.seconds > 0)


def build(session: Session, *, title: str, unit: str, period: Period, tz: ZoneInfo, now: datetime,
          with_days: bool = True, kind: str = "range", year: int | None = None,
          letterhead: Letterhead | None = None, narrative: dict[str, str] | None = None) -> Bundle:
    if with_days:
        avail, days = service.availability_with_days(session, period=period, tz=tz, now=now)
    else:
        avail, days = service.availability(session, period=period, tz=tz, now=now), []
    window = period.bounds(tz)
    return Bundle(title, unit, period, tz, service.airtime(session, period=period, tz=tz), avail,
                  service.fleet_percent(avail), days, kind=kind, year=year,
                  letterhead=letterhead or Letterhead(unit=unit),
                  not_counted=service.not_counted(session, period=period, tz=tz, now=now),
                  content=activity.content_counts(session, window=window),
                  alerts=activity.alert_summary(session, window=window),
                  narrative=dict(narrative or {}), generated_at=now,
                  ticker=service.airtime(session, period=period, tz=tz, zone=service.TICKER))


def _airtime_rows(rows: list[Airtime], names: Mapping[str, str] | None = None) -> list[list[Cell]]:
    return [[(names or {}).get(a.label, a.label), a.plays, a.minutes] for a in rows]


def _language_rows(rows: list[Airtime]) -> list[list[Cell]]:
    return [[a.label, LANGUAGE_NAMES.get(a.language, a.language), a.plays, a.minutes] for a in rows]


def sections(b: Bundle) -> list[tuple[str, list[str], list[list[Cell]]]]:
    """(heading, column names, rows) in report order, Vietnamese headings as the Department's form has them."""
    local = b.tz
    head = ["Tên", "Số lượt phát", "Số phút"]
    a = b.airtime
    ticker = b.ticker if b.has_ticker else None
    passes = ["Số lượt chạy", "Số phút"]
    return [
        ("Tổng hợp", ["Chỉ tiêu", "Giá trị"], [
            ["Đơn vị báo cáo", b.unit],
            ["Kỳ báo cáo", f"{b.period.start:%d/%m/%Y} - {b.period.end:%d/%m/%Y}"],
            ["Tổng số lượt phát", a.plays],
            ["Tổng số phút phát", a.minutes],
            ["Tỷ lệ hoạt động (%)", b.fleet_percent],
            ["Số màn hình tính tỷ lệ hoạt động", len(b.availability)],
            ["Số màn hình chưa tính (chưa đưa vào sử dụng, đã thu hồi)", len(b.not_counted)],
            ["Lượt phát đã hiệu chỉnh giờ lệch", a.skew_corrected],
            ["Số lượt chạy chữ (vùng chữ chạy, tính riêng)", b.ticker.plays if b.ticker else None],
            ["Số phút chạy chữ (vùng chữ chạy, tính riêng)", b.ticker.minutes if b.ticker else None],
            ["Số cảnh báo khẩn", b.alerts.alerts if b.alerts else 0]]),
        ("Theo ngôn ngữ", ["Ngôn ngữ", "Số lượt phát", "Số phút"], _airtime_rows(a.by_language, LANGUAGE_NAMES)),
        ("Theo ngôn ngữ và điểm (cửa khẩu)", ["Điểm", "Ngôn ngữ", "Số lượt phát", "Số phút"],
         _language_rows(a.by_site_language)),
        ("Theo ngôn ngữ và màn hình", ["Màn hình", "Ngôn ngữ", "Số lượt phát", "Số phút"],
         _language_rows(a.by_screen_language)),
        ("Theo điểm (cửa khẩu)", head, _airtime_rows(a.by_site)),
        ("Theo màn hình", head, _airtime_rows(a.by_screen)),
        ("Theo danh sách phát (chiến dịch)", head, _airtime_rows(a.by_playlist)),
        ("Theo nội dung (slide)", head, _airtime_rows(a.by_slide)),
        *([("Chữ chạy theo ngôn ngữ", ["Ngôn ngữ", *passes], _airtime_rows(ticker.by_language, LANGUAGE_NAMES)),
           ("Chữ chạy theo màn hình", ["Màn hình", *passes], _airtime_rows(ticker.by_screen)),
           ("Chữ chạy theo nội dung", ["Nội dung", *passes], _airtime_rows(ticker.by_slide))] if ticker else []),
        ("Tỷ lệ hoạt động theo màn hình", ["Màn hình", "Điểm", "Giờ theo lịch", "Giờ trực tuyến",
                                           "Giờ trực tuyến và phát", "Tỷ lệ (%)"],
         [[r.screen, r.site, round(r.scheduled_s / 3600, 2), round(r.online_s / 3600, 2),
           round(r.available_s / 3600, 2), r.percent] for r in b.availability]),
        ("Sự cố gián đoạn", ["Màn hình", "Loại", "Bắt đầu", "Kết thúc", "Số phút"],
         [[r.screen, OUTAGE_KINDS[o.kind], f"{o.start.astimezone(local):%d/%m/%Y %H:%M:%S}",
           f"{o.end.astimezone(local):%d/%m/%Y %H:%M:%S}", o.minutes]
          for r in b.availability for o in r.outages]),
        ("Màn hình không tính tỷ lệ", ["Màn hình", "Điểm", "Lý do"],
         [[r.screen, r.site, NOT_COUNTED[r.reason]] for r in b.not_counted]),
        ("Nội dung được duyệt", ["Ngôn ngữ", "Lời thuyết minh được duyệt trong kỳ", "Slide được duyệt trong kỳ",
                                 "Lời thuyết minh đang có hiệu lực"],
         [[LANGUAGE_NAMES.get(c.language, c.language), c.captions_approved, c.slides_approved,
           c.captions_in_force] for c in b.content]),
        ("Cảnh báo khẩn", ["Thời điểm phát", "Mẫu cảnh báo", "Số màn hình", "Số màn hình xác nhận",
                           "Thời gian xác nhận trung vị (giây)", "Chậm nhất (giây)", "Đã thu hồi"],
         [[f"{a.issued_at.astimezone(local):%d/%m/%Y %H:%M:%S}", a.name, a.screens, a.acked,
           _round(a.median_ack_s), _round(a.max_ack_s), "Có" if a.withdrawn else "Không"]
          for a in (b.alerts.rows if b.alerts else [])]),
        *([("Tỷ lệ hoạt động theo ngày", ["Ngày", "Tỷ lệ (%)"],
            [[f"{d:%d/%m/%Y}", pct] for d, pct in b.by_day])] if b.by_day else []),
    ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


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
        for letter, width in zip("ABCDEFG", (36, 18, 20, 22, 22, 12, 12), strict=False):
            sheet.column_dimensions[letter].width = width
        _chart(sheet, heading, len(rows))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


# Native Excel charts (they stay live when the Department edits a figure): sheet heading -> (kind, title,
# value column, y-axis title). Data start on row 4 under the title, heading and column names.
CHARTS = {
    "Theo ngôn ngữ": ("bar", "Thời lượng phát theo ngôn ngữ (phút)", 3, "Phút"),
    "Theo điểm (cửa khẩu)": ("bar", "Thời lượng phát theo cửa khẩu (phút)", 3, "Phút"),
    "Tỷ lệ hoạt động theo màn hình": ("bar", "Tỷ lệ hoạt động theo màn hình (%)", 6, "%"),
    "Tỷ lệ hoạt động theo ngày": ("line", "Tỷ lệ hoạt động theo ngày (%)", 2, "%"),
}


def _chart(sheet: object, heading: str, count: int) -> None:
    spec = CHARTS.get(heading)
    if spec is None or count == 0:
        return
    kind, title, column, axis = spec
    chart = LineChart() if kind == "line" else BarChart()
    if kind == "bar":
        chart.type = "bar"  # horizontal: long Vietnamese names read on the left
    chart.title = title
    chart.y_axis.title = axis
    chart.legend = None
    chart.height, chart.width = 7.5 + (0.5 * count if kind == "bar" else 0), 16
    data = Reference(sheet, min_col=column, min_row=3, max_row=3 + count)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=4, max_row=3 + count))
    sheet.add_chart(chart, "I3")  # type: ignore[attr-defined]


CAPTION_COLUMNS = ["slide_id", "slide", "vi", "en", "km", "approved_at"]


def captions_csv(rows: list[CaptionRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CAPTION_COLUMNS)
    for r in rows:
        writer.writerow([r.slide_id, _safe(r.slide), *(_safe(r.texts.get(lang, "")) for lang in ("vi", "en", "km")),
                         r.approved_at.isoformat() if r.approved_at else ""])
    return "\ufeff" + out.getvalue()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def captions_json(rows: list[CaptionRow]) -> str:
    """The portals' feed: titles, per-language texts and approval times, the image; missing languages null."""
    return json.dumps([{"slide_id": r.slide_id, "slide": r.slide, "title": r.title, "published": r.published,
                        "captions": {lang: r.texts.get(lang) for lang in ("vi", "en", "km")},
                        "approved": {lang: _iso(r.approved.get(lang)) for lang in ("vi", "en", "km")},
                        "approved_at": _iso(r.approved_at), "changed_at": _iso(r.changed_at), "image": r.image}
                       for r in rows], ensure_ascii=False, indent=1)
