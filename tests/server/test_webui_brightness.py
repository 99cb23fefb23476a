"""The brightness plan in the pages: the day chart, the form, the override, the site's coordinates; in Vietnamese."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlmodel import Session

from signage_server.manifests import service as manifests
from signage_server.screens.models import Screen, ScreenGroup, Site
from signage_server.slides import service as slides
from tests.server.test_webui import Browsers
from tests.server.world import NOW


def flash(page: str) -> str:
    """The error flash of a page, as the person reads it."""
    found = re.search(r'<p class="flash error"[^>]*>(.*?)</p>', page, re.S)
    assert found is not None, "no error shown"
    return found.group(1)


PLAN_FORM = {"day_percent": "95", "night_percent": "20", "ramp_minutes": "30", "alert_percent": "100",
             "day_kind": "sunrise", "day_offset": "0", "day_at": "", "night_kind": "sunset", "night_offset": "-15",
             "night_at": "", "action": "save"}


def test_admin_places_the_site_sets_a_plan_and_sees_the_curve(
        session: Session, app: Any, users: Any, world: dict[str, int], browsers: Browsers) -> None:
    app.state.manifest_recompiler.install(session)
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    admin = browsers["admin"]
    screen = world["screen"]
    refused = html.unescape(admin.follow(admin.post(f"/screens/{screen}/brightness", PLAN_FORM)).text)
    assert 'class="flash error"' in refused and "cần vĩ độ và kinh độ" in refused and "Lộc Ninh – Hoa Lư" in refused
    assert 'value="-15"' in refused, "the typed values come back"

    bad = html.unescape(admin.follow(admin.post(f"/sites/{world['site']}", {"latitude": "11.93"})).text)
    assert "nhập cả hai hoặc để trống cả hai" in bad
    placed = admin.follow(admin.post(f"/sites/{world['site']}",
                                     {"latitude": "11.93", "longitude": "106.52"}))
    assert "Đã lưu." in placed.text and 'value="106.52"' in placed.text
    session.expire_all()
    assert session.get_one(Site, world["site"]).latitude == 11.93

    page = admin.follow(admin.post(f"/screens/{screen}/brightness", PLAN_FORM)).text
    assert "Đã lưu." in page and "<polyline points=" in page and "Đường độ sáng hôm nay" in page
    points = [tuple(map(float, p.split(","))) for p in re.search(r'<polyline points="([^"]+)"', page).group(1).split()]  # type: ignore[union-attr]
    # 00:00 at the night level (20 % -> y 96 of 120), noon at the day level (95 % -> y 6).
    assert points[0] == (0.0, 96.0) and points[72] == (240.0, 6.0)
    record = manifests.latest_manifest(session, screen_id=screen)
    assert record is not None and '"night_from":{"at":null,"offset_minutes":-15,"sun":"sunset"}' in record.envelope

    over = html.unescape(admin.follow(admin.post(f"/screens/{screen}/brightness/override",
                                                 {"percent": "100", "minutes": "120"})).text)
    assert "Đặt tay: 100 % đến" in over
    wrong = html.unescape(admin.follow(admin.post(f"/screens/{screen}/brightness/override",
                                                  {"percent": "150", "minutes": "120"})).text)
    assert 'class="flash error"' in wrong and "Độ sáng (%)" in wrong
    ended = html.unescape(admin.follow(admin.post(f"/screens/{screen}/brightness/override", {"action": "end"})).text)
    assert "Đã kết thúc đặt tay." in ended and "Đặt tay: 100 %" not in ended


def test_operator_sets_a_group_plan_with_fixed_times_and_bad_input_is_named(
        session: Session, world: dict[str, int], browsers: Browsers) -> None:
    op = browsers["operator"]
    group = world["group"]
    fixed = {**PLAN_FORM, "day_kind": "fixed", "day_at": "06:30", "night_kind": "fixed", "night_at": "18:00"}
    wrong = html.unescape(op.follow(op.post(f"/groups/{group}/brightness", {**fixed, "night_percent": "120"})).text)
    said = flash(wrong)
    assert "Độ sáng ban đêm (%)" in said and "night_percent" not in said, said
    session.expire_all()
    assert session.get_one(ScreenGroup, group).brightness is None
    page = op.follow(op.post(f"/groups/{group}/brightness", fixed)).text
    assert "Đã lưu." in page and "<polyline" in page and 'value="06:30"' in page
    assert browsers["operator"].post(f"/screens/{world['screen']}/brightness", fixed).status_code == 403
    assert browsers["translator"].post(f"/groups/{group}/brightness", fixed).status_code == 403
    no_csrf = browsers["operator"].client.post(f"/groups/{group}/brightness", data=fixed)
    assert no_csrf.status_code == 403
    removed = op.follow(op.post(f"/groups/{group}/brightness", {"action": "remove"}))
    assert "Đã xoá kế hoạch độ sáng." in removed.text
    session.expire_all()
    assert session.get_one(ScreenGroup, group).brightness is None
    assert session.get_one(Screen, world["screen"]).brightness is None


def test_the_dashboard_shows_the_level_and_why_from_the_heartbeat(
        session: Session, world: dict[str, int], browsers: Browsers) -> None:
    from signage_core.protocol import Heartbeat
    from signage_server.telemetry import service as telemetry

    screen = world["screen"]
    beat = Heartbeat(screen_id=str(screen), sent_at=NOW, uptime_s=5.0, brightness_percent=30,
                     brightness_source="plan")  # type: ignore[arg-type]
    telemetry.record_heartbeat(session, screen_id=screen, beat=beat, received_at=NOW)
    session.commit()
    viewer = browsers["translator"]  # every role watches the dashboard
    rows = {r["id"]: r for r in viewer.get("/dashboard.json").json()["screens"]}
    assert (rows[screen]["brightness_percent"], rows[screen]["brightness_source"]) == (30, "plan")
    page = html.unescape(viewer.get("/dashboard").text)
    cell = re.search(rf'<tr data-screen="{screen}".*?<td data-field="brightness">(.*?)</td>', page, re.S)
    assert cell is not None and cell.group(1) == "30 % (theo kế hoạch)"
    telemetry.record_heartbeat(session, screen_id=screen, beat=beat.model_copy(
        update={"brightness_percent": None, "brightness_source": None}), received_at=NOW)
    session.commit()
    rows = {r["id"]: r for r in viewer.get("/dashboard.json").json()["screens"]}
    assert rows[screen]["brightness_percent"] is None
