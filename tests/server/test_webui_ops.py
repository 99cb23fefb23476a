"""The operations pages: dashboard, approval follow-up, enrolment codes, as each role meets them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from signage_core.protocol import Heartbeat, ScreenshotHeader, Status
from signage_server.config import Settings
from signage_server.enrolment.models import EnrolmentCode
from signage_server.enrolment.service import hash_code
from signage_server.manifests import service as manifests
from signage_server.telemetry import service as telemetry
from tests.server.conftest import TEST_SECRET
from tests.server.test_webui import ROLES, XSS, Browser, Browsers, assert_pages_by_role
from tests.server.world import NOW, png

EVERYONE = set(ROLES)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("var"), secret_key=TEST_SECRET, migrate_on_start=False,
                    mqtt_enabled=False, run_scheduler=False, dashboard_offline_alert_minutes=10)


def _beat(session: Any, screen_id: int, at: Any, **fields: Any) -> None:
    beat = Heartbeat(screen_id=str(screen_id), sent_at=at + timedelta(seconds=2), uptime_s=60, **fields)
    telemetry.record_heartbeat(session, screen_id=screen_id, beat=beat, received_at=at)
    session.flush()


def _row(browser: Browser, screen_id: int, query: str = "") -> dict[str, Any]:
    got = browser.get("/dashboard.json" + query)
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    return next(s for s in got.json()["screens"] if s["id"] == screen_id)


def test_new_pages_by_role(app: Any, world: dict[str, int], browsers: Browsers) -> None:
    pages = {"/dashboard": EVERYONE, "/dashboard.json": EVERYONE,
             f"/approve/{world['slide']}/rollout": {"admin", "approver"}}
    assert_pages_by_role(app, browsers, pages)


def test_dashboard_shows_what_each_screen_reports(browsers: Browsers, world: dict[str, int], session: Any,
                                                 clock: Any, settings: Settings) -> None:
    sid = world["screen"]
    telemetry.record_status(session, screen_id=sid, status=Status(screen_id=str(sid), state="online"),
                            received_at=clock.now)
    _beat(session, sid, clock.now, manifest_version="3", current_slide_id=str(world["slide"]),
          current_language="km", disk_free_bytes=2_500_000_000, last_error="fan stalled")
    telemetry.record_screenshot(session, screen_id=sid, header=ScreenshotHeader(
        command_id="c1", taken_at=clock.now, content_type="image/png", length=1), image=png(64, 32),
        received_at=clock.now, root=settings.screenshots_dir)
    session.flush()
    op = browsers["operator"]
    row = _row(op, sid)
    assert row["state"] == "online" and row["slide_name"] == "welcome" and row["language"] == "km"
    assert row["live_version"] == 3 and row["clock_offset_s"] == 2.0 and row["last_error"] == "fan stalled"
    assert row["site"] == "Lộc Ninh – Hoa Lư" and not row["long_offline"]
    thumb = op.get(row["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    page = op.get("/dashboard").text
    assert "Lộc Ninh – Hoa Lư" in page and "fan stalled" in page and "+2.0 s" in page and "2.5 GB" in page
    assert f'src="{row["thumbnail_url"]}"'.replace("&", "&amp;") in page
    assert 'src="/static/dashboard.js"' in page and "<script>" not in page
    # The never-seen spare screen is "unknown", not an alarm.
    assert _row(op, world["spare_screen"])["state"] == "unknown"


def test_thumbnails_carry_their_local_capture_time_and_go_stale_after_two_periods(
        browsers: Browsers, world: dict[str, int], session: Any, clock: Any, settings: Settings) -> None:
    sid = world["screen"]
    telemetry.record_screenshot(session, screen_id=sid, header=ScreenshotHeader(
        command_id="c1", taken_at=clock.now, content_type="image/png", length=1), image=png(64, 32),
        received_at=clock.now, root=settings.screenshots_dir)
    session.flush()
    op = browsers["operator"]
    taken = clock.now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m %H:%M:%S")
    row = _row(op, sid)
    assert row["screenshot_text"] == taken and not row["screenshot_stale"]
    page = op.get("/dashboard").text
    assert f"chụp lúc <time datetime=\"{row['screenshot_at']}\">{taken}</time>" in page and "ảnh cũ" not in page
    clock.advance(seconds=2 * settings.screenshot_period_s - 1)
    assert not _row(op, sid)["screenshot_stale"]
    clock.advance(seconds=2)  # past two of the players' thumbnail periods: no longer what the screen shows
    assert _row(op, sid)["screenshot_stale"]
    assert 'class="stale"' in op.get("/dashboard").text and "ảnh cũ" in op.get("/dashboard").text


def test_screen_offline_past_the_threshold_is_highlighted(browsers: Browsers, world: dict[str, int], session: Any,
                                                          clock: Any) -> None:
    sid = world["screen"]
    _beat(session, sid, clock.now, manifest_version="1")
    ad = browsers["admin"]
    clock.advance(minutes=5)  # three missed 30 s beats: offline, but not for long
    row = _row(ad, sid)
    assert row["state"] == "offline" and not row["long_offline"]
    assert 'class="long-offline"' not in ad.get("/dashboard").text
    clock.advance(minutes=10)
    row = _row(ad, sid)
    assert row["state"] == "offline" and row["long_offline"]
    page = ad.get("/dashboard").text
    assert f'<tr data-screen="{sid}" class="long-offline">' in page
    # The offline job's own verdict counts the same way.
    telemetry.mark_missed(session, now=clock.now, interval=timedelta(seconds=30), missed=3)
    session.flush()
    assert not _row(ad, sid)["long_offline"]  # offline "since" just now by the job's record
    clock.advance(minutes=11)
    assert _row(ad, sid)["long_offline"]


def test_approval_leads_to_acknowledgements_arriving(browsers: Browsers, world: dict[str, int], session: Any,
                                                      clock: Any) -> None:
    sid, slide = world["screen"], world["slide"]
    ap = browsers["approver"]
    done = ap.post(f"/approve/{slide}")
    assert done.status_code == 303 and done.headers["location"] == f"/approve/{slide}/rollout"
    page = ap.follow(done).text
    assert "hoa-lu-arrivals" in page and "hoa-lu-spare" not in page  # only the screens that play it
    latest = manifests.latest_manifest(session, screen_id=sid)
    assert latest is not None
    assert "đang chờ màn hình" in page  # nothing acknowledged yet
    row = _row(ap, sid, f"?screen={sid}")
    assert row["latest_version"] == latest.version and not row["acknowledged"]
    assert [s["id"] for s in ap.get(f"/dashboard.json?screen={sid}").json()["screens"]] == [sid]
    _beat(session, sid, clock.now, manifest_version=str(latest.version))
    assert _row(ap, sid, f"?screen={sid}")["acknowledged"]
    assert "đã cập nhật" in ap.get(f"/approve/{slide}/rollout").text


def test_admin_issues_an_enrolment_code_once(browsers: Browsers, world: dict[str, int], session: Any,
                                            app: Any) -> None:
    sid = world["spare_screen"]
    ad = browsers["admin"]
    before = ad.get(f"/screens/{sid}").text
    fingerprint = app.state.key_ring.current().public_key.fingerprint
    assert fingerprint in before and "id=\"enrolment-code\"" not in before
    got = ad.post(f"/screens/{sid}/enrolment-code")
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    code = re.search(r'id="enrolment-code">([A-Z0-9-]+)<', got.text).group(1)  # type: ignore[union-attr]
    assert f"signage-player enroll --server http://testserver --code {code}" in got.text
    assert fingerprint in got.text
    stored = session.exec(select(EnrolmentCode).where(EnrolmentCode.screen_id == sid)).all()
    assert [row.code_hash for row in stored] == [hash_code(code, secret=TEST_SECRET)]
    assert code not in ad.get(f"/screens/{sid}").text  # shown once
    # Other roles and forged forms get nothing.
    assert browsers["approver"].post(f"/screens/{sid}/enrolment-code").status_code == 403
    bare = ad.client.post(f"/screens/{sid}/enrolment-code")
    assert bare.status_code == 403 and "Biểu mẫu đã hết hạn" in bare.text
    assert len(session.exec(select(EnrolmentCode).where(EnrolmentCode.screen_id == sid)).all()) == 1


def test_markup_in_names_is_inert_on_the_dashboard(browsers: Browsers, world: dict[str, int], session: Any,
                                                  clock: Any) -> None:
    from signage_server.screens.models import Screen

    screen = session.get(Screen, world["screen"])
    screen.name = XSS
    session.add(screen)
    _beat(session, world["screen"], clock.now, last_error=XSS)
    for url in ("/dashboard", f"/approve/{world['slide']}/rollout"):
        page = browsers["admin"].get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page, url
    assert browsers["admin"].get("/dashboard.json").json()["screens"][0]["name"] == XSS


class RecordingBroker:
    """Stands in for the MQTT side: what was published and cleared, per topic (the broker has its own tests)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.cleared: list[str] = []

    def publish_alert(self, group: str, payload: bytes) -> None:
        self.published.append((group, payload))

    def clear_alert(self, group: str) -> None:
        self.cleared.append(group)


@pytest.fixture
def broker(app: Any) -> Any:
    """Plugs the recording broker in for one test (monkeypatch would delete the State key on undo)."""
    before = app.state.transport
    app.state.transport = RecordingBroker()
    yield app.state.transport
    app.state.transport = before


def _alert_count(session: Any) -> int:
    from signage_server.alerts.models import Alert

    return len(session.exec(select(Alert)).all())


def test_urgent_alert_confirm_watch_and_withdraw(browsers: Browsers, world: dict[str, int], session: Any,
                                                 broker: RecordingBroker, clock: Any) -> None:
    from signage_core.protocol import AlertAck
    from signage_server.alerts import service as alerts
    from signage_server.alerts.models import Alert

    ap = browsers["approver"]
    page = ap.get("/alerts").text
    template = alerts.list_templates(session)[0]
    assert f'value="{template.id}"' in page and "hoa-lu-arrivals" in page
    form = {"template_id": str(template.id), "minutes": "30", "screen_ids": [str(world["screen"])]}
    confirm = ap.post("/alerts/confirm", form)
    assert confirm.status_code == 200 and template.captions["vi"] in confirm.text and "15:30" in confirm.text
    assert _alert_count(session) == 0 and not broker.published  # nothing goes out before the confirm step
    # The approver's own Vietnamese text replaces the template's; English and Khmer stay the template's.
    own = "Cửa khẩu Hoa Lư đóng cửa đến 17:00 hôm nay"
    custom = ap.post("/alerts/confirm", {**form, "text_vi": own})
    assert custom.status_code == 200 and own in custom.text and template.captions["en"] in custom.text
    assert custom.text.count('src="data:image/png;base64,') == 1  # one preview per kind of target screen
    assert "Đóng cửa khẩu" in custom.text and "Border closure" not in custom.text
    assert f'name="text_vi" value="{own}"' in custom.text
    assert _alert_count(session) == 0 and not broker.published
    launched = ap.post("/alerts/launch", {**form, "text_vi": own})
    assert launched.status_code == 303 and not launched.headers["location"].endswith("/alerts"), launched.text
    assert len(broker.published) == 1
    sent = session.exec(select(Alert)).one()
    assert sent.captions == {**template.captions, "vi": own}
    watch = ap.follow(launched).text
    assert "0 / 1" not in watch and "Đã xác nhận 0 trên 1 màn hình" in watch and 'http-equiv="refresh"' in watch
    alert_id = int(launched.headers["location"].rsplit("/", 1)[1])
    clock.advance(seconds=2)
    alerts.record_ack(session, screen_id=world["screen"], ack=AlertAck(
        alert_id=str(alert_id), frame_hash="a" * 64, shown_at=clock.now), received_at=clock.now)
    watch = ap.get(f"/alerts/{alert_id}").text
    assert "Đã xác nhận 1 trên 1 màn hình" in watch and "2000 ms" in watch and 'http-equiv="refresh"' not in watch
    gone = ap.follow(ap.post(f"/alerts/{alert_id}/withdraw")).text
    assert "Đã thu hồi cảnh báo." in gone and broker.cleared and "Thu hồi cảnh báo" not in gone.split("</h1>")[1]


def test_alert_forms_refuse_forgery_wrong_role_and_no_broker(browsers: Browsers, world: dict[str, int],
                                                             session: Any, app: Any) -> None:
    from signage_server.alerts import service as alerts

    form = {"template_id": str(alerts.list_templates(session)[0].id), "minutes": "30",
            "group_ids": [str(world["group"])]}
    assert browsers["approver"].follow(browsers["approver"].post("/alerts/launch", form)).text.count(
        "Cảnh báo cần máy chủ MQTT") == 1  # this app runs without a broker
    app.state.transport = RecordingBroker()
    try:
        _forged_and_wrong_role(browsers, form, session, app)
    finally:
        app.state.transport = None


def _forged_and_wrong_role(browsers: Browsers, form: dict[str, Any], session: Any, app: Any) -> None:
    bare = browsers["approver"].client.post("/alerts/launch", data=form)
    assert bare.status_code == 403 and "Biểu mẫu đã hết hạn" in bare.text
    for role in ("operator", "translator"):
        assert browsers[role].post("/alerts/launch", form).status_code == 403
        assert browsers[role].get("/alerts").status_code == 403
    assert _alert_count(session) == 0
    anon = Browser(app, None).get("/alerts")
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login?next=")
    empty = browsers["approver"].post("/alerts/confirm", {"template_id": form["template_id"], "minutes": "30"})
    assert empty.status_code == 303
    assert "Hãy chọn ít nhất một màn hình hoặc nhóm." in browsers["approver"].follow(empty).text


def _playlist_rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'name="slide_id" value="(\d+)">.*?name="duration_s" value="([^"]+)"', page, re.S)


def test_operator_builds_and_reorders_a_playlist(browsers: Browsers, world: dict[str, int], session: Any) -> None:
    op = browsers["operator"]
    made = op.post("/playlists", {"name": "gate-night"})
    assert made.status_code == 303
    url = made.headers["location"]
    assert "Đã tạo danh sách phát." in op.follow(made).text
    first, second = world["slide"], world["pending_slide"]
    page = op.follow(op.post(url, {"add_slide": str(first), "add_duration": "12"})).text
    rows = _playlist_rows(page)
    assert rows == [(str(first), "12")]
    page = op.follow(op.post(url, {"slide_id": [str(first)], "duration_s": ["12"], "add_slide": str(second),
                                   "add_duration": "7,5"})).text
    assert _playlist_rows(page) == [(str(first), "12"), (str(second), "7.5")]
    # The down button on the first row swaps it with the second; durations edited in the same post are kept.
    page = op.follow(op.post(url, {"slide_id": [str(first), str(second)], "duration_s": ["15", "7.5"],
                                   "move": "0:down"})).text
    assert _playlist_rows(page) == [(str(second), "7.5"), (str(first), "15")]
    # A dragged order arrives as the rows' order; Save keeps it.
    page = op.follow(op.post(url, {"slide_id": [str(first), str(second)], "duration_s": ["15", "7.5"],
                                   "save": "1"})).text
    assert _playlist_rows(page) == [(str(first), "15"), (str(second), "7.5")]
    refused = op.follow(op.post(url, {"slide_id": [str(first)], "duration_s": ["0.2"]})).text
    assert 'class="flash error"' in refused and _playlist_rows(refused) == [(str(first), "15"), (str(second), "7.5")]
    page = op.follow(op.post(url, {"slide_id": [str(first), str(second)], "duration_s": ["15", "7.5"],
                                   "remove": "0"})).text
    assert _playlist_rows(page) == [(str(second), "7.5")]
    assert 'src="/static/playlist.js"' in page and 'draggable="true"' in page


def test_playlist_pages_by_role_and_csrf(app: Any, browsers: Browsers, world: dict[str, int]) -> None:
    url = f"/playlists/{world['playlist']}"
    for path in ("/playlists", url):
        assert Browser(app, None).get(path).headers["location"].startswith("/login?next=")
        for role in ROLES:
            assert browsers[role].get(path).status_code == (200 if role in {"admin", "operator"} else 403)
    assert browsers["approver"].post(url, {"remove": "0"}).status_code == 403
    bare = browsers["operator"].client.post(url, data={"remove": "0"})
    assert bare.status_code == 403 and "Biểu mẫu đã hết hạn" in bare.text
    assert len(_playlist_rows(browsers["operator"].get(url).text)) == 2


def test_markup_in_slide_and_playlist_names_is_inert(browsers: Browsers, world: dict[str, int],
                                                     session: Any) -> None:
    from signage_server.slides.models import Slide

    slide = session.get(Slide, world["slide"])
    slide.name = XSS
    session.add(slide)
    session.flush()
    op = browsers["operator"]
    made = op.post("/playlists", {"name": XSS[:90]})
    for url in (f"/playlists/{world['playlist']}", made.headers["location"], "/playlists"):
        page = op.get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page, url


def test_week_calendar_labels_lunar_dates_and_shows_conflicts(browsers: Browsers, world: dict[str, int],
                                                               session: Any, users: Any, app: Any) -> None:
    from signage_server.schedules import service as schedules

    # Rằm tháng Giêng (15/1 lunar) is Tuesday 3 March 2026; the weekday schedule has the same priority.
    schedules.create_schedule(session, actor=users["operator"], fields={
        "name": "ram-thang-gieng", "playlist_id": world["empty_playlist"], "priority": 1,
        "rule": {"dates": [{"kind": "lunar", "day": 15, "month": 1}]}}, screen_ids=[world["screen"]],
        now=NOW)
    session.flush()
    url = f"/screens/{world['screen']}/calendar?week=2026-03-02"
    page = browsers["operator"].get(url).text
    days = page.split("<td>")[1:]
    assert len(days) == 7 and "Thứ Ba" in page and "03/03" in page
    tuesday = days[1]
    assert "âm lịch 15/1" in tuesday and "Xung đột" in tuesday and "hoa-lu-main + empty" in tuesday
    assert "ram-thang-gieng" in tuesday and "(ưu tiên 1)" in tuesday
    assert "Xung đột" not in days[0] and "âm lịch 15/1" not in days[0]
    assert "weekday" in days[0] and "âm lịch 14/1" not in days[0]  # each day's own lunar date is in its header
    heads = re.findall(r'<th[^>]*data-day="([0-9-]+)"[^>]*>.*?data-lunar="([^"]+)"', page)
    assert heads[:2] == [("2026-03-02", "14/1"), ("2026-03-03", "15/1")] and len(heads) == 7
    assert "Lịch ưu tiên bằng nhau chồng nhau" in page
    # The weekend falls back to the default playlist.
    assert "danh sách phát mặc định" in days[6] and "00:00–24:00</strong> hoa-lu-main" in days[6]
    assert "?week=2026-02-23" in page and "?week=2026-03-09" in page
    for role in ROLES:
        assert browsers[role].get(url).status_code == (403 if role == "translator" else 200)
    assert Browser(app, None).get(url).headers["location"].startswith("/login?next=")
    assert browsers["operator"].get("/screens/9999/calendar").status_code == 404


def test_operator_schedules_with_the_full_rule_model(browsers: Browsers, world: dict[str, int],
                                                    session: Any, app: Any) -> None:
    from signage_server.schedules.models import Schedule

    op = browsers["operator"]
    form = {"name": "tet-night", "playlist_id": str(world["empty_playlist"]), "priority": "5",
            "start_date": "2026-01-01", "end_date": "2026-12-31", "weekdays": ["5", "6"],
            "windows": "22:00-02:00\n06:00-08:00", "dates": "lunar 1/1\nsolar 30/4",
            "screen_ids": [str(world["screen"])], "group_ids": [str(world["group"])]}
    page = op.follow(op.post("/schedules", form)).text
    assert "Đã lưu lịch." in page
    saved = session.exec(select(Schedule).where(Schedule.name == "tet-night")).one()
    assert saved.priority == 5
    assert saved.rule["weekdays"] == [5, 6] and saved.rule["start_date"] == "2026-01-01"
    assert [(w["start"][:5], w["end"][:5]) for w in saved.rule["windows"]] == [("22:00", "02:00"), ("06:00", "08:00")]
    assert [(d["kind"], d["day"], d["month"]) for d in saved.rule["dates"]] == [("lunar", 1, 1), ("solar", 30, 4)]
    assert "âm lịch 1/1" in page and "22:00–02:00" in page and "Thứ Bảy, Chủ Nhật" in page
    # Bad rules come back as a message naming the problem; nothing is stored.
    for field, value, words in (("windows", "22:00", "22:00"), ("dates", "moon 1/1", "moon 1/1"),
                                ("windows", "10:00-10:00", "10:00")):
        bad = op.post("/schedules", {**form, "name": f"bad-{field}", field: value})
        text = bad.text  # the form again, with everything typed and the field's problem in Vietnamese
        assert bad.status_code == 422 and 'class="flash error"' in text and words in text, (field, value)
        assert f'value="bad-{field}"' in text and 'name="weekdays" value="5" checked' in text
        assert "must look like" not in text and "Input should" not in text
        assert session.exec(select(Schedule).where(Schedule.name == f"bad-{field}")).first() is None
    nowhere = op.post("/schedules", {**form, "name": "nowhere", "screen_ids": [], "group_ids": []}).text
    assert 'class="flash error"' in nowhere
    gone = op.follow(op.post(f"/schedules/{saved.id}/delete")).text
    assert "Đã xóa lịch." in gone
    assert session.exec(select(Schedule).where(Schedule.id == saved.id)).first() is None


def test_schedule_pages_by_role_csrf_and_markup(app: Any, browsers: Browsers, world: dict[str, int],
                                                session: Any) -> None:
    from signage_server.schedules.models import Schedule

    assert Browser(app, None).get("/schedules").headers["location"].startswith("/login?next=")
    for role in ROLES:
        assert browsers[role].get("/schedules").status_code == (200 if role in {"admin", "operator"} else 403)
    sid = world["schedule"]
    assert browsers["approver"].post(f"/schedules/{sid}/delete").status_code == 403
    bare = browsers["operator"].client.post(f"/schedules/{sid}/delete")
    assert bare.status_code == 403 and "Biểu mẫu đã hết hạn" in bare.text
    assert session.get(Schedule, sid) is not None
    schedule = session.get(Schedule, sid)
    schedule.name = XSS[:90]
    session.add(schedule)
    session.flush()
    for url in ("/schedules", f"/screens/{world['screen']}/calendar?week=2026-03-02"):
        page = browsers["operator"].get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page, url
