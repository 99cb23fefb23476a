"""Report figures from a known journal: duplicates, an offline gap, a skewed clock, midnight and period edges."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlmodel import Session, select

from signage_core.languages import Language
from signage_core.protocol import Heartbeat, LanguageSegment, PlayLogBatch, PlayRecord, Status
from signage_server.errors import Invalid
from signage_server.reports import calendar, exports, service
from signage_server.reports.calendar import Period, ReportCalendar
from signage_server.screens import service as screens
from signage_server.screens.models import Enrolment, Screen
from signage_server.telemetry import service as telemetry
from signage_server.telemetry.models import PlayLogEntry, PresenceEvent

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = Period(date(2026, 3, 10), date(2026, 3, 10))  # local day = 2026-03-09T17:00Z .. 2026-03-10T17:00Z
NOW = datetime(2026, 3, 12, tzinfo=UTC)
FRAME = "ab" * 32
MARCH_1 = datetime(2026, 3, 1, tzinfo=UTC)


def z(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _record(rid: str, slide: int, playlist: int, lang: str, start: datetime, minutes: int) -> PlayRecord:
    """A one-language play (its language on screen the whole time)."""
    return _play(rid, slide, playlist, start, minutes, [(lang, 0, minutes)])


def _play(rid: str, slide: int, playlist: int, start: datetime, minutes: int,
          segments: list[tuple[str, int, int]] | None) -> PlayRecord:
    """A play with (language, from minute, to minute) segments; None: an older player's record, split unknown."""
    return PlayRecord(record_id=rid, slide_id=str(slide), playlist_id=str(playlist), manifest_version="v1",
                      started_at=start, duration_ms=minutes * 60_000, frame_hash=FRAME,
                      language=Language.VI if segments is None else None,
                      segments=None if segments is None else [
                          LanguageSegment(language=Language(lang), offset_ms=a * 60_000, duration_ms=(b - a) * 60_000)
                          for lang, a, b in segments])


def _send(session: Session, screen: int, received: datetime, *records: PlayRecord) -> None:
    telemetry.record_playlog(session, screen_id=screen, batch=PlayLogBatch(screen_id=str(screen), records=list(records)),
                             received_at=received)


def _beat(session: Session, screen: int, received: datetime, skew_s: float = 0) -> None:
    telemetry.record_heartbeat(session, screen_id=screen, received_at=received, beat=Heartbeat(
        screen_id=str(screen), sent_at=received + timedelta(seconds=skew_s), uptime_s=10))


def enrol(session: Session, screen: int, at: datetime) -> None:
    screens.set_enrolment(session, actor=None, screen_id=screen, state=Enrolment.ENROLLED, now=at)


def feed(session: Session, world: dict[str, int], *, enrolled_at: datetime | None = MARCH_1) -> dict[str, int]:
    """Screen A 07:00-19:00 local with an offline gap; screen B all day with a clock one hour ahead.

    Both enrolled on 1 March unless `enrolled_at` says otherwise (None: left for the test to enrol).
    """
    a, b = world["screen"], world["spare_screen"]
    if enrolled_at is not None:
        for screen in (a, b):
            enrol(session, screen, enrolled_at)
    s, s2, p, q = world["slide"], world["pending_slide"], world["playlist"], world["empty_playlist"]
    screen_a = session.get_one(Screen, a)
    screen_a.on_time, screen_a.off_time = time(7), time(19)  # 00:00-12:00 UTC
    session.add(screen_a)
    telemetry.record_status(session, screen_id=b, status=Status(screen_id=str(b), state="online"), received_at=z(9, 17))
    telemetry.record_status(session, screen_id=a, status=Status(screen_id=str(a), state="online"), received_at=z(9, 23))
    # Crosses the period's start: 10 of its 20 minutes fall on 10 March, and it counts as a play of 9 March.
    _send(session, a, z(9, 17, 11), _record("a0", s, p, "vi", z(9, 16, 50), 20))
    _send(session, a, z(10, 3, 1), _record("a1", s, p, "vi", z(10, 0), 60), _record("a2", s, p, "en", z(10, 1), 60),
          _record("a3", s2, p, "km", z(10, 2), 60))
    _send(session, a, z(10, 3, 1), _record("a2", s, p, "en", z(10, 1), 60))  # re-sent batch: counted once
    _beat(session, a, z(10, 3))
    _beat(session, b, z(10, 3, 29), skew_s=3600)
    assert telemetry.mark_missed(session, now=z(10, 3, 30), interval=timedelta(seconds=30), missed=3) == [a]
    # Played while offline, uploaded when it came back at 05:00.
    telemetry.record_status(session, screen_id=a, status=Status(screen_id=str(a), state="online"), received_at=z(10, 5))
    _send(session, a, z(10, 5), _record("a4", s, p, "vi", z(10, 3), 60))
    # B's clock is an hour ahead: stamped 06:00-07:00, received at 06:01, really 05:00-06:00.
    _beat(session, b, z(10, 6, 1), skew_s=3600)
    _send(session, b, z(10, 6, 1), _record("b1", s, p, "km", z(10, 6), 60))
    _send(session, a, z(10, 12, 1), _record("a5", s2, q, "vi", z(10, 6), 360))
    # 23:30 local to 00:30 local: 30 minutes on each day, one play on the 10th.
    _send(session, a, z(10, 17, 31), _record("a6", s, p, "en", z(10, 16, 30), 60))
    session.flush()
    return {"a": a, "b": b}


def _table(rows: list[service.Airtime]) -> dict[str, tuple[int, float]]:
    return {r.label: (r.plays, r.minutes) for r in rows}


def test_airtime_counts_every_record_once_with_edges_and_skew(session: Session, world: dict[str, int]) -> None:
    feed(session, world)
    rep = service.airtime(session, period=DAY, tz=TZ)
    assert (rep.plays, rep.minutes, rep.skew_corrected) == (7, 700.0, 1)
    assert _table(rep.by_screen) == {"hoa-lu-arrivals": (6, 640.0), "hoa-lu-spare": (1, 60.0)}
    assert _table(rep.by_site) == {"Lộc Ninh – Hoa Lư": (7, 700.0)}
    assert _table(rep.by_playlist) == {"hoa-lu-main": (6, 340.0), "empty": (1, 360.0)}
    # Slides by their approved Vietnamese caption; "traffic" has none approved yet, so its name.
    assert _table(rep.by_slide) == {"Chào mừng quý khách đến với Việt Nam": (5, 280.0), "traffic": (2, 420.0)}
    assert [(r.label, r.plays, r.minutes) for r in rep.by_language] == [
        ("vi", 3, 490.0), ("en", 2, 90.0), ("km", 2, 120.0)]
    # The neighbouring days hold the rest of the edge-crossing plays, so periods add up.
    before = service.airtime(session, period=Period(date(2026, 3, 9), date(2026, 3, 9)), tz=TZ)
    after = service.airtime(session, period=Period(date(2026, 3, 11), date(2026, 3, 11)), tz=TZ)
    assert (before.plays, before.minutes, after.plays, after.minutes) == (1, 10.0, 0, 30.0)
    both = service.airtime(session, period=Period(date(2026, 3, 9), date(2026, 3, 11)), tz=TZ)
    assert (both.plays, both.minutes) == (8, 740.0)


def test_language_airtime_sums_segments_per_screen_and_site(session: Session, world: dict[str, int]) -> None:
    a, b = world["screen"], world["spare_screen"]
    s, p = world["slide"], world["playlist"]
    rotate = [("vi", 0, 10), ("km", 10, 20), ("en", 20, 30)]
    _send(session, a, z(10, 3), _play("r1", s, p, z(10, 1), 30, rotate), _play("r2", s, p, z(10, 2), 30, rotate))
    # Crosses the period's start (17:00Z): its Vietnamese third fell on the 9th, the rest on the 10th.
    _send(session, a, z(9, 17, 30), _play("r0", s, p, z(9, 16, 50), 30, rotate))
    stacked = [("vi", 0, 60), ("en", 0, 60), ("km", 0, 60)]
    _send(session, b, z(10, 3), _play("s1", s, p, z(10, 1), 60, stacked))
    _send(session, b, z(10, 3), _play("old", s, p, z(10, 2), 20, None))  # before segments: split unknown
    session.flush()
    rep = service.airtime(session, period=DAY, tz=TZ)
    assert [(r.label, r.plays, r.minutes) for r in rep.by_language] == [
        ("vi", 3, 80.0), ("en", 3, 90.0), ("km", 3, 90.0), ("unknown", 1, 20.0)]
    by_screen = {(r.label, r.language): (r.plays, r.minutes) for r in rep.by_screen_language}
    assert by_screen == {
        ("hoa-lu-arrivals", "vi"): (2, 20.0), ("hoa-lu-arrivals", "km"): (2, 30.0),
        ("hoa-lu-arrivals", "en"): (2, 30.0),
        ("hoa-lu-spare", "vi"): (1, 60.0), ("hoa-lu-spare", "en"): (1, 60.0), ("hoa-lu-spare", "km"): (1, 60.0),
        ("hoa-lu-spare", "unknown"): (1, 20.0)}
    assert {(r.label, r.language): r.minutes for r in rep.by_site_language} == {
        ("Lộc Ninh – Hoa Lư", "vi"): 80.0, ("Lộc Ninh – Hoa Lư", "en"): 90.0, ("Lộc Ninh – Hoa Lư", "km"): 90.0,
        ("Lộc Ninh – Hoa Lư", "unknown"): 20.0}
    only_a = service.airtime(session, period=DAY, tz=TZ, screen_ids=[a])
    assert [(r.label, r.minutes) for r in only_a.by_language] == [("vi", 20.0), ("en", 30.0), ("km", 30.0)]
    tables = {heading: rows for heading, _, rows in exports.sections(exports.Bundle("t", "u", DAY, TZ, rep, [], None, []))}
    assert ["hoa-lu-spare", "Tiếng Khmer", 1, 60.0] in tables["Theo ngôn ngữ và màn hình"]  # CSV/XLSX show it


def test_availability_and_outages(session: Session, world: dict[str, int]) -> None:
    ids = feed(session, world)
    rows = {r.screen_id: r for r in service.availability(session, period=DAY, tz=TZ, now=NOW)}
    a, b = rows[ids["a"]], rows[ids["b"]]
    # A: on 00:00-12:00Z; online 00-03 and 05-12; playing 00-04 and 06-12 -> 9 of 12 hours.
    assert (a.scheduled_s, a.online_s, a.available_s, a.percent) == (12 * 3600, 10 * 3600, 9 * 3600, 75.0)
    assert [(o.kind, o.start, o.end, o.minutes) for o in a.outages] == [
        ("offline", z(10, 3), z(10, 5), 120.0), ("not_playing", z(10, 5), z(10, 6), 60.0)]
    # B: all day online, playing only the corrected 05:00-06:00.
    assert (b.scheduled_s, b.online_s, b.available_s, b.percent) == (24 * 3600, 24 * 3600, 3600, 4.17)
    assert [(o.kind, o.start, o.end) for o in b.outages] == [
        ("not_playing", z(9, 17), z(10, 5)), ("not_playing", z(10, 6), z(10, 17))]
    assert service.fleet_percent(rows.values()) == 27.78
    sources = session.exec(select(PresenceEvent.state, PresenceEvent.source, PresenceEvent.at).where(
        PresenceEvent.screen_id == ids["a"]).order_by(PresenceEvent.id)).all()  # type: ignore[arg-type]
    assert [tuple(r) for r in sources] == [("online", "status", z(9, 23)), ("offline", "missed_heartbeats", z(10, 3)),
                                           ("online", "status", z(10, 5))]


def test_availability_counts_from_commissioning_until_revocation(session: Session, world: dict[str, int],
                                                                  users: dict[str, Any]) -> None:
    """B enrolled mid-day, A revoked mid-morning, a third screen never enrolled: none is blamed for the rest."""
    ids = feed(session, world, enrolled_at=None)
    enrol(session, ids["a"], MARCH_1)
    enrol(session, ids["b"], z(10, 5))  # commissioned at 05:00Z on the reported day
    screens.set_enrolment(session, actor=None, screen_id=ids["a"], state=Enrolment.REVOKED, now=z(10, 4))
    fresh = screens.create_screen(session, actor=users["admin"], fields={
        "site_id": world["site"], "name": "hoa-lu-new", "display_name": "Màn hình mới Hoa Lư", "width_px": 64,
        "height_px": 32, "pixel_pitch_mm": 10.0, "languages": ["vi"]}, now=z(9, 0))
    rows = {r.screen_id: r for r in service.availability(session, period=DAY, tz=TZ, now=NOW)}
    assert set(rows) == {ids["a"], ids["b"]}  # the pending screen is not averaged in
    a, b = rows[ids["a"]], rows[ids["b"]]
    # A: on-hours 00-12Z but revoked at 04: 4 h in service, online 00-03 and playing throughout -> 75 %.
    assert (a.scheduled_s, a.online_s, a.available_s, a.percent) == (4 * 3600, 3 * 3600, 3 * 3600, 75.0)
    assert [(o.kind, o.start, o.end) for o in a.outages] == [("offline", z(10, 3), z(10, 4))]
    # B: counted from 05:00Z, not from the day's start: the 12 hours before it existed are no outage.
    assert (b.scheduled_s, b.available_s, b.percent) == (12 * 3600, 3600, 8.33)
    assert [(o.kind, o.start, o.end) for o in b.outages] == [("not_playing", z(10, 6), z(10, 17))]
    assert service.fleet_percent(rows.values()) == 25.0
    apart = service.not_counted(session, period=DAY, tz=TZ, now=NOW)
    assert [(r.screen_id, r.screen, r.reason) for r in apart] == [(fresh.id, "Màn hình mới Hoa Lư", "pending")]
    # The next day: A was revoked before it, so it is listed apart too, not shown at 0 %.
    next_day = Period(date(2026, 3, 11), date(2026, 3, 11))
    assert [r.screen_id for r in service.availability(session, period=next_day, tz=TZ, now=NOW)] == [ids["b"]]
    assert {r.screen_id: r.reason for r in service.not_counted(session, period=next_day, tz=TZ, now=NOW)} == {
        ids["a"]: "revoked", fresh.id: "pending"}


def test_an_admin_set_commissioning_date_moves_the_start(session: Session, world: dict[str, int],
                                                         users: dict[str, Any]) -> None:
    ids = feed(session, world, enrolled_at=None)
    enrol(session, ids["a"], MARCH_1)
    enrol(session, ids["b"], z(9, 0))
    # Handed over at 08:00Z, although its player enrolled the day before during installation.
    screens.update_screen(session, actor=users["admin"], screen_id=ids["b"], fields={"commissioned_at": z(10, 8)}, now=z(11, 0))
    b = {r.screen_id: r for r in service.availability(session, period=DAY, tz=TZ, now=NOW)}[ids["b"]]
    assert b.scheduled_s == 9 * 3600
    with pytest.raises(Invalid, match="commissioned_at"):
        screens.update_screen(session, actor=users["admin"], screen_id=ids["b"],
                              fields={"commissioned_at": datetime(2026, 3, 10, 8)}, now=z(11, 0))


def test_availability_stops_at_now_and_by_day(session: Session, world: dict[str, int]) -> None:
    ids = feed(session, world)
    # At 09:00Z on the 10th only 9 of A's 12 on-hours have happened yet.
    rows = {r.screen_id: r for r in service.availability(session, period=DAY, tz=TZ, now=z(10, 9))}
    assert (rows[ids["a"]].scheduled_s, rows[ids["a"]].available_s) == (9 * 3600, 6 * 3600)
    days = service.availability_by_day(session, period=Period(date(2026, 3, 10), date(2026, 3, 13)), tz=TZ, now=NOW)
    assert days[0] == (date(2026, 3, 10), 27.78)
    assert days[3] == (date(2026, 3, 13), None)  # the future has no on-hours yet


def test_an_outage_over_several_days_is_one_row_counting_on_hours_only(session: Session, world: dict[str, int]) -> None:
    ids = feed(session, world)
    rows = {r.screen_id: r for r in service.availability(
        session, period=Period(date(2026, 3, 11), date(2026, 3, 12)), tz=TZ, now=z(13, 0))}
    a = rows[ids["a"]]
    # Online but silent on both days' 07:00-19:00: one outage, the night between not counted.
    assert [(o.kind, o.start, o.end, o.minutes) for o in a.outages] == [("not_playing", z(11, 0), z(12, 12), 1440.0)]
    assert (a.scheduled_s, a.available_s, a.percent) == (24 * 3600, 0, 0.0)


def test_slide_runs_say_where_and_when(session: Session, world: dict[str, int]) -> None:
    ids = feed(session, world)
    runs = service.slide_runs(session, slide_id=str(world["slide"]), period=DAY, tz=TZ)
    assert [(r.screen_id, r.day, r.plays, r.minutes, r.languages) for r in runs] == [
        (ids["a"], date(2026, 3, 10), 4, 240.0, {"vi": 2, "en": 2}),
        (ids["b"], date(2026, 3, 10), 1, 60.0, {"km": 1})]
    assert (runs[0].first, runs[0].last) == (z(10, 0), z(10, 17, 30))


def test_skew_correction_rules() -> None:
    hour = timedelta(hours=1)
    # Consistent with its receipt: taken as stamped, whatever the current offset says.
    assert service.correct_skew(started_at=z(1, 0), duration=hour, received_at=z(1, 2),
                                clock_offset_s=3600) == (z(1, 0), False)
    # Ahead with a known offset: moved back by it.
    assert service.correct_skew(started_at=z(1, 6), duration=hour, received_at=z(1, 6, 1),
                                clock_offset_s=3600) == (z(1, 5), True)
    # Ahead, offset unknown or too small: pinned to end at its receipt.
    assert service.correct_skew(started_at=z(1, 6), duration=hour, received_at=z(1, 6, 1),
                                clock_offset_s=None) == (z(1, 5, 1), True)
    assert service.correct_skew(started_at=z(1, 9), duration=hour, received_at=z(1, 6, 1),
                                clock_offset_s=60) == (z(1, 5, 1), True)


CAL = ReportCalendar(half_year_due=(5, 20), annual_due=(11, 15), cutoff_day=14, banner_days=30)


def test_periodic_periods_and_due_banner_from_30_days_before() -> None:
    assert calendar.report_period(CAL, kind="half_year", year=2026) == Period(date(2025, 10, 15), date(2026, 4, 14))
    assert calendar.report_period(CAL, kind="annual", year=2026) == Period(date(2025, 10, 15), date(2026, 10, 14))

    def banner(today: date) -> dict[str, tuple[int, bool]]:
        return {d.kind: (d.days_left, d.show_banner) for d in calendar.due_reports(CAL, today=today)}

    assert banner(date(2026, 4, 19))["half_year"] == (31, False)
    assert banner(date(2026, 4, 20))["half_year"] == (30, True)
    assert banner(date(2026, 5, 20))["half_year"] == (0, True)
    assert banner(date(2026, 5, 21))["half_year"] == (364, False)  # next year's
    assert banner(date(2026, 10, 15))["annual"] == (31, False)
    assert banner(date(2026, 10, 16))["annual"] == (30, True)
    assert banner(date(2026, 11, 16))["annual"] == (364, False)
    with pytest.raises(Invalid, match="unknown report kind"):
        calendar.report_period(CAL, kind="quarterly", year=2026)


@pytest.mark.parametrize("cal", [CAL, ReportCalendar((6, 20), (12, 15), 14, 30), ReportCalendar((5, 20), (11, 15), 1, 30)])
def test_titles_state_the_period_they_cover(cal: ReportCalendar) -> None:
    for year in (2026, 2027, 2030):
        for kind in calendar.KINDS:
            period = calendar.report_period(cal, kind=kind, year=year)
            title = calendar.report_title(kind, year, period)
            assert f"({period.start:%d/%m/%Y} – {period.end:%d/%m/%Y})" in title
            assert "năm năm" not in title and "đầu năm" not in title
            assert period.end.year == year  # named by the year its data close in (and the report is due)
            months = calendar.months_in(period)
            assert months == (12 if kind == "annual" else 6)
            assert title.startswith("Báo cáo năm" if kind == "annual" else f"Báo cáo {months} tháng năm {year}")
    half = calendar.report_period(CAL, kind="half_year", year=2027)
    assert calendar.report_title("half_year", 2027, half) == "Báo cáo 6 tháng năm 2027 (15/10/2026 – 14/04/2027)"
    assert calendar.period_words(half) == "từ ngày 15 tháng 10 năm 2026 đến hết ngày 14 tháng 4 năm 2027"
    annual = calendar.report_period(CAL, kind="annual", year=2027)
    assert calendar.report_title("annual", 2027, annual) == "Báo cáo năm 2027 (15/10/2026 – 14/10/2027)"


def test_bad_periods_are_refused_by_name() -> None:
    with pytest.raises(Invalid, match="'to' must not be before 'from'"):
        calendar.make_period(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(Invalid, match="at most 400 days"):
        calendar.make_period(date(2025, 1, 1), date(2026, 3, 1))


def _xlsx_sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data))
    return {ws.title: [tuple(r) for r in ws.iter_rows(min_row=4, values_only=True)] for ws in book.worksheets}


def test_xlsx_and_csv_hold_the_same_figures(session: Session, world: dict[str, int]) -> None:
    feed(session, world)
    b = exports.build(session, title="Báo cáo thử", unit="Đơn vị thử", period=DAY, tz=TZ, now=NOW)
    sheets = _xlsx_sheets(exports.to_xlsx(b))
    assert dict(sheets["Tổng hợp"])["Tổng số lượt phát"] == 7
    assert dict(sheets["Tổng hợp"])["Tổng số phút phát"] == 700.0
    assert dict(sheets["Tổng hợp"])["Tỷ lệ hoạt động (%)"] == 27.78
    assert sheets["Theo ngôn ngữ"] == [("Tiếng Việt", 3, 490.0), ("Tiếng Anh", 2, 90.0), ("Tiếng Khmer", 2, 120.0)]
    assert sheets["Theo màn hình"] == [("hoa-lu-arrivals", 6, 640.0), ("hoa-lu-spare", 1, 60.0)]
    assert sheets["Theo danh sách phát chiến dịch"] == [("empty", 1, 360.0), ("hoa-lu-main", 6, 340.0)]
    assert sheets["Theo nội dung slide"] == [("traffic", 2, 420.0), ("Chào mừng quý khách đến với Việt Nam", 5, 280.0)]
    avail = {r[0]: r for r in sheets["Tỷ lệ hoạt động theo màn hình"]}
    assert avail["hoa-lu-arrivals"][2:] == (12.0, 10.0, 9.0, 75.0)
    assert avail["hoa-lu-spare"][2:] == (24.0, 24.0, 1.0, 4.17)
    outages = sheets["Sự cố gián đoạn"]
    assert ("hoa-lu-arrivals", "Mất kết nối", "10/03/2026 10:00:00", "10/03/2026 12:00:00", 120.0) in outages
    assert len(outages) == 4
    rows = list(csv.reader(io.StringIO(exports.to_csv(b).lstrip("\ufeff"))))
    assert rows[0] == ["Báo cáo thử"]
    assert ["Tổng số lượt phát", "7"] in rows and ["Tổng số phút phát", "700.0"] in rows
    assert ["Tiếng Việt", "3", "490.0"] in rows and ["hoa-lu-spare", "1", "60.0"] in rows
    assert ["hoa-lu-arrivals", "Lộc Ninh – Hoa Lư", "12.0", "10.0", "9.0", "75.0"] in rows
    assert sum(1 for r in rows if r and r[1:2] in (["Mất kết nối"], ["Kết nối nhưng không phát"])) == 4


def test_xlsx_has_native_charts_over_its_own_cells(session: Session, world: dict[str, int]) -> None:
    feed(session, world)
    b = exports.build(session, title="Báo cáo thử", unit="Đơn vị thử", period=DAY, tz=TZ, now=NOW)
    with zipfile.ZipFile(io.BytesIO(exports.to_xlsx(b))) as z:
        charts = sorted(n for n in z.namelist() if n.startswith("xl/charts/chart"))
        xml = {n: z.read(n).decode() for n in charts}
    kinds = sorted(m for x in xml.values() for m in re.findall(r"<(?:c:)?(bar|line)Chart>", x))
    assert kinds == ["bar", "bar", "bar", "line"]
    refs = " ".join(xml.values())
    # Charts read the cells (live in Excel), not pictures of them: the language minutes are C4:C6.
    assert "'Theo ngôn ngữ'!$C$4:$C$6" in refs and "'Theo ngôn ngữ'!$A$4:$A$6" in refs
    assert "Tỷ lệ hoạt động theo ngày (%)" in refs


def test_approved_captions_export_all_three_languages(session: Session, world: dict[str, int]) -> None:
    rows = service.approved_captions(session)
    assert [(r.slide, r.texts) for r in rows] == [("welcome", {
        "vi": "Chào mừng quý khách đến với Việt Nam", "en": "Welcome to Viet Nam",
        "km": "សូមស្វាគមន៍មកកាន់ប្រទេសវៀតណាម"})]  # the submitted-only "traffic" slide is not exported
    parsed = list(csv.DictReader(io.StringIO(exports.captions_csv(rows).lstrip("\ufeff"))))
    assert parsed[0]["vi"] == "Chào mừng quý khách đến với Việt Nam" and parsed[0]["km"].startswith("សូម")


def test_caption_feed_for_portals_has_titles_times_and_changed_since(api: Any, session: Session,
                                                                      world: dict[str, int],
                                                                      users: dict[str, Any]) -> None:
    from signage_server.captions import service as captions
    from tests.server.world import NOW as BUILT

    feed_url = "/api/v1/reports/captions.json"
    entries = api.as_("translator_en").get(feed_url).json()
    assert [(e["slide"], e["title"], e["published"]) for e in entries] == [
        ("welcome", "Chào mừng quý khách đến với Việt Nam", True)]
    assert all(datetime.fromisoformat(t) == BUILT for t in entries[0]["approved"].values())
    assert "image" in entries[0] and entries[0]["changed_at"]
    later = (BUILT + timedelta(hours=1)).isoformat()
    assert api.as_("operator").get(feed_url, params={"changed_since": later}).json() == []
    # The English caption is edited two hours later: a pending text is not published, the live one stays.
    captions.write_caption(session, actor=users["translator_en"], slide_id=world["slide"], language="en",
                           text="Welcome to Viet Nam!", submit=True, now=BUILT + timedelta(hours=2))
    session.flush()
    assert api.as_("operator").get(feed_url, params={"changed_since": later}).json() == []
    # Approved three hours later: the portal polling since then gets the new English with its approval time.
    approved_at = BUILT + timedelta(hours=3)
    captions.approve_caption(session, actor=users["approver"], slide_id=world["slide"], language="en",
                             now=approved_at)
    session.flush()
    changed = api.as_("operator").get(feed_url, params={"changed_since": later}).json()
    assert [(e["slide"], e["captions"]["en"], datetime.fromisoformat(e["approved"]["en"]), e["captions"]["vi"])
            for e in changed] == [("welcome", "Welcome to Viet Nam!", approved_at,
                                   "Chào mừng quý khách đến với Việt Nam")]
    naive = api.as_("operator").get(feed_url, params={"changed_since": "2026-03-01T00:00:00"})
    assert naive.status_code == 422 and "changed_since" in naive.text


def test_ticker_passes_are_kept_but_not_added_to_the_main_zones_airtime(session: Session, world: dict[str, int]) -> None:
    """A zoned screen's ticker scrolls while the slides play: counting both would put 2 h of airtime in 1 h."""
    feed(session, world)
    before = service.airtime(session, period=DAY, tz=TZ)
    screen = world["screen"]
    ticker = _record("tick-1", world["slide"], world["playlist"], "vi", z(10, 3), 60).model_copy(
        update={"zone": "ticker"})
    late = _record("tick-2", world["slide"], world["playlist"], "km", z(10, 16, 30), 60).model_copy(
        update={"zone": "ticker"})  # crosses the day's end: the Python path, not the database's sum
    avail_before = service.availability(session, period=DAY, tz=TZ, now=NOW)
    _send(session, screen, z(10, 12), ticker)
    _send(session, screen, z(11, 12), late)
    after = service.airtime(session, period=DAY, tz=TZ)
    assert (after.plays, after.minutes) == (before.plays, before.minutes)
    # The main zone's language minutes, per screen and per site, are exactly what they were.
    for table in ("by_language", "by_screen_language", "by_site_language", "by_screen", "by_slide"):
        assert _table(getattr(after, table)) == _table(getattr(before, table)), table
    assert [(r.language, r.minutes) for r in after.by_language] == [(r.language, r.minutes) for r in before.by_language]
    assert service.availability(session, period=DAY, tz=TZ, now=NOW) == avail_before
    assert session.exec(select(PlayLogEntry.zone).where(PlayLogEntry.record_id == "tick-1")).one() == "ticker"
    # Reported apart: two passes started on the 10th; the late one's 30 minutes before midnight count.
    passes = service.airtime(session, period=DAY, tz=TZ, zone=service.TICKER)
    assert (passes.plays, passes.minutes) == (2, 90.0)
    assert {r.language: (r.plays, r.minutes) for r in passes.by_language} == {
        "vi": (1, 60.0), "en": (0, 0.0), "km": (1, 30.0)}
    assert _table(passes.by_screen) == {"hoa-lu-arrivals": (2, 90.0)}
    b = exports.build(session, title="Báo cáo thử", unit="Đơn vị thử", period=DAY, tz=TZ, now=NOW)
    sheets = _xlsx_sheets(exports.to_xlsx(b))
    assert dict(sheets["Tổng hợp"])["Tổng số phút phát"] == 700.0  # as without a ticker
    assert sheets["Theo ngôn ngữ"] == [("Tiếng Việt", 3, 490.0), ("Tiếng Anh", 2, 90.0), ("Tiếng Khmer", 2, 120.0)]
    assert dict(sheets["Tổng hợp"])["Số lượt chạy chữ (vùng chữ chạy, tính riêng)"] == 2
    assert dict(sheets["Tổng hợp"])["Số phút chạy chữ (vùng chữ chạy, tính riêng)"] == 90.0
    assert sheets["Chữ chạy theo ngôn ngữ"] == [("Tiếng Việt", 1, 60.0), ("Tiếng Anh", 0, 0.0),
                                                ("Tiếng Khmer", 1, 30.0)]
    assert sheets["Chữ chạy theo màn hình"] == [("hoa-lu-arrivals", 2, 90.0)]
    rows = list(csv.reader(io.StringIO(exports.to_csv(b).lstrip("\ufeff"))))
    assert ["Chữ chạy theo nội dung"] in rows and ["Nội dung", "Số lượt chạy", "Số phút"] in rows


def test_without_ticker_passes_the_files_have_no_ticker_tables(session: Session, world: dict[str, int]) -> None:
    feed(session, world)
    b = exports.build(session, title="Báo cáo thử", unit="Đơn vị thử", period=DAY, tz=TZ, now=NOW)
    sheets = _xlsx_sheets(exports.to_xlsx(b))
    assert dict(sheets["Tổng hợp"])["Số lượt chạy chữ (vùng chữ chạy, tính riêng)"] == 0
    assert not [name for name in sheets if name.startswith("Chữ chạy")]
