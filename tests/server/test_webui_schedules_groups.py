"""Editing a schedule and managing screen groups in the pages: roles, CSRF, kept values, and the manifests that follow."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from signage_server.alerts.models import Alert, AlertTemplate
from signage_server.audit.models import AuditEvent
from signage_server.db import saved_id
from signage_server.schedules import service as schedules
from signage_server.schedules.models import Schedule
from signage_server.screens import service as screens
from signage_server.screens.models import Screen, ScreenGroup
from signage_server.slides import service as slides
from tests.server.test_webui import ROLES, XSS, Browsers, assert_pages_by_role
from tests.server.world import NOW


@pytest.fixture
def heard(app: Any) -> Iterator[list[list[str]]]:
    """Every "new manifest" notice the app sends after a commit."""
    calls: list[list[str]] = []
    unsubscribe = app.state.manifest_events.subscribe(calls.append)
    yield calls
    unsubscribe()


def versions(session: Session) -> dict[int, int]:
    """Each screen's manifest version as the screen row records it."""
    session.expire_all()
    return {s.id: s.manifest_version for s in session.exec(select(Screen)).all()}  # type: ignore[misc]


def compiled_world(session: Session, app: Any, users: Any, world: dict[str, int]) -> dict[str, int]:
    """The world with its slide approved, a bystander screen on the same playlist, and every manifest compiled."""
    app.state.manifest_recompiler.install(session)
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    fields = {"site_id": world["site"], "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
              "languages": ["vi", "en", "km"], "default_playlist_id": world["playlist"]}
    bystander = screens.create_screen(session, actor=users["admin"], fields={**fields, "name": "bystander"}, now=NOW)
    lane = screens.create_screen(session, actor=users["admin"], fields={**fields, "name": "lane-3"}, now=NOW)
    session.commit()
    ids = {**world, "bystander": saved_id(bystander), "lane": saved_id(lane)}
    before = versions(session)
    assert before[ids["screen"]] >= 1 and before[ids["bystander"]] >= 1 and before[ids["lane"]] >= 1
    return ids


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="sc-{field}-error" data-field="{field}">(.*?)</p>', page)
    assert found, (field, page[page.find("<main>"):][:3000])
    return html.unescape(found.group(1))


def audits(session: Session, action: str, entity_id: int) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action,
                                                      AuditEvent.entity_id == str(entity_id))).all())


FULL = {"name": "tet-nights", "priority": "7", "start_date": "2026-01-01", "end_date": "2026-12-31",
        "weekdays": ["4", "5"], "windows": "22:00-02:00\n06:00-08:00", "dates": "lunar 1/1\nsolar 30/4"}


# --- who may open and post what -------------------------------------------------------------------------------------

def test_new_pages_and_menu_by_role(app: Any, world: dict[str, int], browsers: Browsers) -> None:
    pages = {f"/schedules/{world['schedule']}": {"admin", "operator"}, "/groups": {"admin", "operator"},
             f"/groups/{world['group']}": {"admin", "operator"}}
    assert_pages_by_role(app, browsers, pages)
    for role in ROLES:
        menu = re.findall(r'<li><a href="(/[a-z]+)"', browsers[role].get("/password").text)
        assert ("/groups" in menu) == (role in {"admin", "operator"}), role
    admin_menu = re.findall(r'<li><a href="(/[a-z]+)"', browsers["admin"].get("/password").text)
    assert admin_menu.index("/groups") == admin_menu.index("/screens") + 1  # beside the screens
    assert "Nhóm màn hình" in browsers["operator"].get("/password").text
    assert browsers["operator"].get("/schedules/99999").status_code == 404
    assert browsers["operator"].get("/groups/99999").status_code == 404


def test_wrong_role_and_missing_csrf_change_nothing(browsers: Browsers, world: dict[str, int], session: Session) -> None:
    sid, gid, screen = world["schedule"], world["group"], world["screen"]
    edit = {**FULL, "playlist_id": str(world["empty_playlist"]), "screen_ids": [str(screen)]}
    for role, url, data in (("approver", f"/schedules/{sid}", edit), ("translator", f"/schedules/{sid}", edit),
                            ("approver", "/groups", {"name": "sneaky"}),
                            ("translator", f"/groups/{gid}", {"name": "sneaky"}),
                            ("approver", f"/groups/{world['empty_group']}/delete", {}),
                            # Membership is a screen edit: the admin's, as PATCH /screens requires.
                            ("operator", f"/groups/{world['empty_group']}/screens", {"screen_id": str(screen)}),
                            ("operator", f"/groups/{gid}/screens/{screen}/remove", {})):
        refused = browsers[role].post(url, data)
        assert refused.status_code == 403 and "Vai trò của bạn không được mở trang này." in refused.text, (role, url)
    for url, data in ((f"/schedules/{sid}", edit), ("/groups", {"name": "forged"}),
                      (f"/groups/{gid}/screens/{screen}/remove", {})):
        bare = browsers["admin"].client.post(url, data=data)
        assert bare.status_code == 403 and "Biểu mẫu đã hết hạn" in bare.text, url
    session.expire_all()
    assert session.get_one(Schedule, sid).name == "weekday"
    assert screens.find_group(session, name="sneaky") is None and screens.find_group(session, name="forged") is None
    assert session.get(ScreenGroup, world["empty_group"]) is not None
    assert [g.id for g in session.get_one(Screen, screen).groups] == [gid]
    assert "/remove" not in browsers["operator"].get(f"/groups/{gid}").text  # no buttons they may not use


# --- schedule edit --------------------------------------------------------------------------------------------------

def test_edit_form_shows_the_stored_schedule(browsers: Browsers, world: dict[str, int], session: Session,
                                             users: Any) -> None:
    made = schedules.create_schedule(session, actor=users["operator"], fields={
        "name": "tet", "playlist_id": world["empty_playlist"], "priority": 9, "rule": {
            "start_date": "2026-02-01", "end_date": "2026-02-28", "weekdays": [5, 6],
            "windows": [{"start": "22:00", "end": "02:00"}],
            "dates": [{"kind": "lunar", "day": 1, "month": 1}, {"kind": "solar", "day": 30, "month": 4}]}},
        screen_ids=[world["spare_screen"]], group_ids=[world["group"]], now=NOW)
    session.flush()
    page = browsers["operator"].get(f"/schedules/{made.id}").text
    assert 'id="sc-name" name="name" required maxlength="100" value="tet"' in page
    assert f'<option value="{world["empty_playlist"]}" selected>empty</option>' in page
    assert f'<option value="{world["playlist"]}">hoa-lu-main</option>' in page
    assert 'name="priority" type="number" min="0" value="9"' in page
    assert 'name="start_date" type="date" value="2026-02-01"' in page and 'value="2026-02-28"' in page
    ticked = set(re.findall(r'name="weekdays" value="(\d)" checked', page))
    assert ticked == {"5", "6"}
    assert ">22:00-02:00</textarea>" in page and ">lunar 1/1\nsolar 30/4</textarea>" in page
    assert f'name="screen_ids" value="{world["spare_screen"]}" checked' in page
    assert f'name="screen_ids" value="{world["screen"]}" checked' not in page
    assert f'name="group_ids" value="{world["group"]}" checked' in page
    assert f'name="group_ids" value="{world["empty_group"]}" checked' not in page
    # The list links to it.
    assert f'<a href="/schedules/{made.id}">tet</a>' in browsers["operator"].get("/schedules").text


def test_editing_every_field_saves_audits_and_recompiles_only_the_screens_involved(
        browsers: Browsers, world: dict[str, int], session: Session, users: Any, app: Any,
        heard: list[list[str]]) -> None:
    ids = compiled_world(session, app, users, world)
    before = versions(session)
    heard.clear()
    op = browsers["operator"]
    form = {**FULL, "playlist_id": str(world["playlist"]), "screen_ids": [str(ids["screen"])], "group_ids": []}
    done = op.post(f"/schedules/{ids['schedule']}", form)
    assert done.status_code == 303 and done.headers["location"] == "/schedules"
    listing = op.follow(done).text
    assert "Đã lưu lịch." in listing and "tet-nights" in listing and "22:00–02:00" in listing
    assert "âm lịch 1/1" in listing and "dương lịch 30/4" in listing and "Thứ Sáu, Thứ Bảy" in listing
    session.expire_all()
    saved = session.get_one(Schedule, ids["schedule"])
    assert (saved.name, saved.playlist_id, saved.priority) == ("tet-nights", world["playlist"], 7)
    assert saved.rule["start_date"] == "2026-01-01" and saved.rule["end_date"] == "2026-12-31"
    assert saved.rule["weekdays"] == [4, 5]
    assert [(w["start"][:5], w["end"][:5]) for w in saved.rule["windows"]] == [("22:00", "02:00"), ("06:00", "08:00")]
    assert [(d["kind"], d["day"], d["month"]) for d in saved.rule["dates"]] == [("lunar", 1, 1), ("solar", 30, 4)]
    assert schedules.targets_of(session, schedule_id=ids["schedule"]) == ([ids["screen"]], [])
    [event] = audits(session, "schedule.update", ids["schedule"])
    assert event.actor_name == "operator"
    assert event.before is not None and event.after is not None
    assert event.before["name"] == "weekday" and event.before["group_ids"] == [world["group"]]
    assert event.after["name"] == "tet-nights" and event.after["group_ids"] == []
    # The schedule's one screen gets a new manifest; screens on the same playlist but not scheduled do not.
    after = versions(session)
    assert after[ids["screen"]] == before[ids["screen"]] + 1
    assert {k: v for k, v in after.items() if k != ids["screen"]} == {
        k: v for k, v in before.items() if k != ids["screen"]}
    assert heard == [[str(ids["screen"])]]
    # Saving the same values again changes nothing: no audit, no version.
    op.post(f"/schedules/{ids['schedule']}", form)
    assert len(audits(session, "schedule.update", ids["schedule"])) == 1 and versions(session) == after


@pytest.mark.parametrize(("change", "field", "status", "words"), [
    ({"name": "  "}, "name", 422, "cần điền tên"),
    ({"name": "x" * 101}, "name", 422, "tên phải dài từ 1 đến 100 ký tự"),
    ({"name": "clash"}, "name", 409, "đã có lịch phát tên"),
    ({"playlist_id": "99999"}, "playlist_id", 404, "Mục danh sách phát đã chọn không còn nữa"),
    ({"priority": "lots"}, "priority", 422, "Mức ưu tiên phải là số nguyên"),
    ({"priority": "5000"}, "priority", 422, "mức ưu tiên phải từ 0 đến 1000"),
    ({"start_date": "2026-12-31", "end_date": "2026-01-01"}, "end_date", 422, "đứng trước «Từ ngày» 2026-12-31"),
    ({"windows": "22:00"}, "windows", 422, "phải viết như 06:00-22:00"),
    ({"windows": "10:00-10:00"}, "windows", 422, "Khung giờ 1"),
    ({"dates": "moon 1/1"}, "dates", 422, "phải viết như «âm lịch 15/1» hoặc «dương lịch 30/4»"),
    ({"dates": "solar 31/2"}, "dates", 422, "31/2 không phải một ngày có thật"),
    ({"screen_ids": [], "group_ids": []}, "screen_ids", 422, "lịch cần ít nhất một màn hình hoặc một nhóm"),
    ({"screen_ids": ["99999"]}, "screen_ids", 422, "màn hình số 99999 không tồn tại"),
])
def test_bad_input_comes_back_with_the_typed_values_and_the_field_named(
        change: dict[str, Any], field: str, status: int, words: str, browsers: Browsers, world: dict[str, int],
        session: Session, users: Any) -> None:
    schedules.create_schedule(session, actor=users["operator"], fields={
        "name": "clash", "playlist_id": world["playlist"]}, screen_ids=[world["screen"]], now=NOW)
    session.flush()
    sid = world["schedule"]
    stored_rule = dict(session.get_one(Schedule, sid).rule)
    assert stored_rule["weekdays"] == [0, 1, 2, 3, 4]
    form = {**FULL, "playlist_id": str(world["empty_playlist"]), "screen_ids": [str(world["spare_screen"])],
            "group_ids": [str(world["empty_group"])], **change}
    got = browsers["operator"].post(f"/schedules/{sid}", form)
    assert got.status_code == status, got.text[:500]
    page = got.text
    assert words in field_error(page, field)
    assert f'aria-describedby="sc-{field}-error"' in page
    assert "Chưa lưu gì: hãy sửa ô được đánh dấu rồi lưu lại." in page
    assert page.count('class="field-error"') == 1
    # What the operator typed is still there, not the stored schedule.
    kept_name = html.escape(form["name"], quote=True)
    assert f'name="name" required maxlength="100" value="{kept_name}"' in page
    assert f'>{html.escape(form["windows"])}</textarea>' in page and f'>{html.escape(form["dates"])}</textarea>' in page
    assert set(re.findall(r'name="weekdays" value="(\d)" checked', page)) == set(form["weekdays"])
    for sid_ in (i for i in form["screen_ids"] if i != "99999"):
        assert f'name="screen_ids" value="{sid_}" checked' in page
    assert f'name="screen_ids" value="{world["screen"]}" checked' not in page
    assert "<h1>Sửa lịch: weekday</h1>" in page  # the heading is the stored name
    session.expire_all()
    stored = session.get_one(Schedule, sid)
    assert (stored.name, stored.priority, stored.rule) == ("weekday", 1, stored_rule)
    assert schedules.targets_of(session, schedule_id=sid) == ([world["screen"]], [world["group"]])
    assert audits(session, "schedule.update", sid) == []


def test_markup_typed_into_a_refused_edit_stays_inert(browsers: Browsers, world: dict[str, int]) -> None:
    got = browsers["operator"].post(f"/schedules/{world['schedule']}", {
        **FULL, "name": XSS[:90], "windows": XSS, "playlist_id": str(world["playlist"]),
        "screen_ids": [str(world["screen"])]})
    assert got.status_code == 422
    assert "<script>alert" not in got.text and "&lt;script&gt;alert" in got.text


# --- groups ---------------------------------------------------------------------------------------------------------

def test_groups_list_create_rename_and_counts(browsers: Browsers, world: dict[str, int], session: Session,
                                              users: Any, app: Any) -> None:
    ids = compiled_world(session, app, users, world)
    before = versions(session)
    op = browsers["operator"]
    listing = op.get("/groups").text
    counts = dict(re.findall(r'<tr data-group="(\d+)">.*?<td class="count">(\d+)</td>', listing))
    assert counts == {str(world["group"]): "1", str(world["empty_group"]): "0"}

    made = op.post("/groups", {"name": "moc-bai-all", "description": "Mộc Bài, both directions"})
    assert made.status_code == 303
    page = op.follow(made).text
    assert "Đã tạo nhóm." in page and "<h1>Nhóm màn hình: moc-bai-all</h1>" in page
    group = screens.find_group(session, name="moc-bai-all")
    assert group is not None and group.description == "Mộc Bài, both directions"
    assert len(audits(session, "group.create", saved_id(group))) == 1
    dup = html.unescape(op.follow(op.post("/groups", {"name": "hoa-lu-all"})).text)
    assert 'class="flash error"' in dup and "đã có nhóm tên" in dup and "exists" not in dup

    # Renaming a group that a schedule targets changes no manifest: only ids reach the players.
    renamed = op.follow(op.post(f"/groups/{world['group']}", {"name": "hoa-lu-every-screen", "description": ""}))
    assert "Đã lưu." in renamed.text and "<h1>Nhóm màn hình: hoa-lu-every-screen</h1>" in renamed.text
    [event] = audits(session, "group.update", world["group"])
    assert event.before["name"] == "hoa-lu-all" and event.after["name"] == "hoa-lu-every-screen"  # type: ignore[index]
    clash = html.unescape(op.follow(op.post(f"/groups/{world['group']}", {"name": "unused"})).text)
    assert "đã có nhóm tên" in clash
    session.expire_all()
    assert session.get_one(ScreenGroup, world["group"]).name == "hoa-lu-every-screen"
    assert versions(session) == before
    page = op.get(f"/groups/{world['group']}").text
    assert f'<a href="/schedules/{world["schedule"]}">weekday</a>' in page  # why it cannot be deleted
    assert f'<tr data-screen="{ids["screen"]}"><td>hoa-lu-arrivals</td>' in page


def test_adding_and_removing_a_screen_recompiles_that_screen_only(
        browsers: Browsers, world: dict[str, int], session: Session, users: Any, app: Any,
        heard: list[list[str]]) -> None:
    ids = compiled_world(session, app, users, world)
    lane, gid = ids["lane"], world["group"]
    admin = browsers["admin"]
    page = admin.get(f"/groups/{gid}").text
    assert f'<option value="{lane}">lane-3</option>' in page
    assert f'<option value="{ids["screen"]}">' not in page  # already a member
    before = versions(session)
    heard.clear()

    # The group carries the weekday schedule, so joining it changes what lane-3 plays.
    added = admin.post(f"/groups/{gid}/screens", {"screen_id": str(lane)})
    assert "Đã thêm màn hình vào nhóm." in admin.follow(added).text
    session.expire_all()
    assert gid in [g.id for g in session.get_one(Screen, lane).groups]
    after = versions(session)
    assert after[lane] == before[lane] + 1
    assert {k: v for k, v in after.items() if k != lane} == {k: v for k, v in before.items() if k != lane}
    assert heard == [[str(lane)]]
    [event] = audits(session, "screen.update", lane)
    assert event.before["group_ids"] == [] and event.after["group_ids"] == [gid]  # type: ignore[index]
    again = admin.follow(admin.post(f"/groups/{gid}/screens", {"screen_id": str(lane)})).text
    assert "đã ở trong nhóm" in again
    assert admin.follow(admin.post(f"/groups/{gid}/screens", {"screen_id": "x"})).text.count("Hãy chọn một màn hình.")

    heard.clear()
    removed = admin.post(f"/groups/{gid}/screens/{lane}/remove")
    assert "Đã bỏ màn hình khỏi nhóm." in admin.follow(removed).text
    final = versions(session)
    assert final[lane] == after[lane] + 1
    assert {k: v for k, v in final.items() if k != lane} == {k: v for k, v in after.items() if k != lane}
    assert heard == [[str(lane)]]
    session.expire_all()
    assert session.get_one(Screen, lane).groups == []
    missing = admin.follow(admin.post(f"/groups/{gid}/screens/{lane}/remove")).text
    assert "không ở trong nhóm" in missing


def test_delete_is_refused_while_a_schedule_or_a_live_alert_uses_the_group(
        browsers: Browsers, world: dict[str, int], session: Session, users: Any, app: Any, clock: Any,
        api: Any) -> None:
    compiled_world(session, app, users, world)
    gid, spare = world["group"], world["spare_screen"]
    op, admin = browsers["operator"], browsers["admin"]
    page = op.follow(op.post(f"/groups/{gid}/delete", {"confirm": "yes"})).text
    assert "có lịch đang nhắm vào nhóm này; hãy sửa lịch đó trước" in page
    assert session.get(ScreenGroup, gid) is not None

    # An unscheduled group with a member: the member must be let go explicitly.
    other = screens.create_group(session, actor=users["operator"], name="night-shift", now=NOW)
    other_id = saved_id(other)
    screens.update_screen(session, actor=users["admin"], screen_id=spare, fields={"group_ids": [other_id]}, now=NOW)
    session.commit()
    template = AlertTemplate(key="closure", name="Closure", captions={"vi": "Tạm đóng cửa khẩu"}, created_at=NOW)
    session.add(template)
    session.flush()
    alert = Alert(template_id=saved_id(template), version=1, captions=template.captions, group_ids=[other_id],
                  screen_ids=[], topics=[f"g{other_id}"], issued_at=clock.now, expires_at=clock.now + timedelta(hours=1),
                  envelope="{}")
    session.add(alert)
    session.commit()
    before = versions(session)
    unconfirmed = op.follow(op.post(f"/groups/{other_id}/delete")).text
    assert "Nhóm vẫn còn màn hình: hãy đánh dấu ô xác nhận" in unconfirmed
    live = op.follow(op.post(f"/groups/{other_id}/delete", {"confirm": "yes"})).text
    assert "một cảnh báo khẩn đang có hiệu lực trên nhóm này" in live
    leave = admin.follow(admin.post(f"/groups/{other_id}/screens/{spare}/remove")).text
    assert "một cảnh báo khẩn đang có hiệu lực trên nhóm này" in leave
    # The API's screen edit is held to the same rule: it is the same service call.
    patched = api.as_("admin").patch(f"/api/v1/screens/{spare}", json={"group_ids": []})
    assert patched.status_code == 409 and patched.json()["error"]["details"]["group_id"] == other_id
    session.expire_all()
    assert session.get(ScreenGroup, other_id) is not None
    assert [g.id for g in session.get_one(Screen, spare).groups] == [other_id]

    # Once the alert has expired the group may go; its member simply leaves it and no manifest changes.
    clock.advance(hours=2)
    done = op.post(f"/groups/{other_id}/delete", {"confirm": "yes"})
    assert done.headers["location"] == "/groups" and "Đã xóa nhóm." in op.follow(done).text
    session.expire_all()
    assert session.get(ScreenGroup, other_id) is None and session.get_one(Screen, spare).groups == []
    assert len(audits(session, "group.delete", other_id)) == 1
    assert versions(session) == before
    # An empty group needs no confirmation.
    assert op.post(f"/groups/{world['empty_group']}/delete").headers["location"] == "/groups"
    session.expire_all()
    assert session.get(ScreenGroup, world["empty_group"]) is None


def test_group_names_are_inert_markup(browsers: Browsers, world: dict[str, int], session: Session) -> None:
    group = session.get_one(ScreenGroup, world["group"])
    group.name = XSS[:90]
    session.add(group)
    session.flush()
    for url in ("/groups", f"/groups/{world['group']}", "/schedules", f"/schedules/{world['schedule']}"):
        page = browsers["admin"].get(url).text
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page, url


class FakeTransport:
    """Records the broker-account calls the pages make after their commit."""

    def __init__(self) -> None:
        self.synced: list[tuple[int, list[int]]] = []
        self.revoked: list[int] = []

    def sync_groups(self, screen_id: int, group_ids: list[int]) -> None:
        self.synced.append((screen_id, list(group_ids)))

    def revoke(self, screen_id: int) -> None:
        self.revoked.append(screen_id)


@pytest.fixture
def transport(app: Any) -> Iterator[FakeTransport]:
    fake = FakeTransport()
    app.state.transport = fake
    yield fake
    app.state.transport = None


def test_membership_pages_keep_the_broker_accounts_in_step(browsers: Browsers, world: dict[str, int],
                                                            session: Session, users: Any,
                                                            transport: FakeTransport) -> None:
    from signage_server.screens.models import Enrolment

    spare, gid = world["spare_screen"], world["group"]
    row = session.get_one(Screen, spare)
    row.enrolment = Enrolment.ENROLLED
    session.add(row)
    other = screens.create_group(session, actor=users["operator"], name="night-shift", now=NOW)
    session.flush()
    admin, op = browsers["admin"], browsers["operator"]
    admin.post(f"/groups/{gid}/screens", {"screen_id": str(spare)})
    admin.post(f"/groups/{other.id}/screens", {"screen_id": str(spare)})
    assert transport.synced == [(spare, [gid]), (spare, sorted([gid, saved_id(other)]))]
    admin.post(f"/groups/{gid}/screens", {"screen_id": str(spare)})  # refused: already in it
    assert len(transport.synced) == 2
    admin.post(f"/groups/{gid}/screens/{spare}/remove")
    assert transport.synced[-1] == (spare, [other.id])
    # Deleting a group with a member regroups the member too.
    op.post(f"/groups/{other.id}/delete", {"confirm": "yes"})
    assert transport.synced[-1] == (spare, [])
    session.expire_all()
    assert session.get_one(Screen, spare).groups == []
    assert transport.revoked == []


def test_revoking_from_the_screen_page_cuts_the_broker_account(browsers: Browsers, world: dict[str, int],
                                                               session: Session, transport: FakeTransport) -> None:
    """The page's revoke must do what the API's does: the box loses its account at commit, not at next start."""
    from signage_server.screens.models import Enrolment

    spare = world["spare_screen"]
    row = session.get_one(Screen, spare)
    row.enrolment = Enrolment.ENROLLED
    session.add(row)
    session.flush()
    browsers["operator"].post(f"/screens/{spare}/revoke")  # not an admin: refused, nothing cut
    assert transport.revoked == []
    browsers["admin"].post(f"/screens/{spare}/revoke")
    assert transport.revoked == [spare]
    session.expire_all()
    assert session.get_one(Screen, spare).enrolment == Enrolment.REVOKED
