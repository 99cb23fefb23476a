"""The data-feeds page: the administrator lists, adds, changes, reads and deletes feeds, in Vietnamese; a feed a
screen's strip reads cannot be deleted, renamed or re-kinded. Sources are a local fake: nothing leaves the machine."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from signage_server.audit.models import AuditEvent
from signage_server.feeds import service as feeds
from signage_server.feeds.models import DataFeed
from signage_server.screens.models import Enrolment, Screen
from tests.server.conftest import Api
from tests.server.test_webui import Browsers
from tests.server.test_zones import FakeFeed
from tests.server.world import NOW


@pytest.fixture
def source() -> Iterator[FakeFeed]:
    fake = FakeFeed()
    yield fake
    fake.close()


def page(browser: Any, url: str) -> str:
    got = browser.get(url)
    assert got.status_code == 200, got.text
    return html.unescape(got.text)


def after(browser: Any, response: Any) -> str:
    return html.unescape(browser.follow(response).text)


def feed_named(session: Session, name: str) -> DataFeed | None:
    session.expire_all()
    return session.exec(select(DataFeed).where(DataFeed.name == name)).first()


def test_only_the_administrator_opens_the_page_and_its_menu_entry(browsers: Browsers, app: Any) -> None:
    assert 'href="/feeds"' in page(browsers["admin"], "/dashboard")
    for role in ("operator", "approver", "translator"):
        assert 'href="/feeds"' not in browsers[role].get("/dashboard").text
        refused = browsers[role].get("/feeds")
        assert refused.status_code == 403 and "Vai trò của bạn không được mở trang này." in refused.text
        assert browsers[role].post("/feeds", {"name": "x", "kind": "rates", "url": "http://a.vn/",
                                              "period_s": "600"}).status_code == 403
    # The form's token is checked: a post without it is refused before anything is stored.
    forged = browsers["admin"].client.post("/feeds", data={"name": "gia", "kind": "rates", "url": "http://a.vn/",
                                                           "period_s": "600"})
    assert forged.status_code == 403


def test_add_read_change_and_delete_a_feed_in_vietnamese(session: Session, browsers: Browsers,
                                                         source: FakeFeed) -> None:
    admin = browsers["admin"]
    listing = page(admin, "/feeds")
    assert "Nguồn dữ liệu" in listing and "Chưa có nguồn dữ liệu nào." in listing
    added = admin.post("/feeds", {"name": "ty-gia", "kind": "rates", "url": source.url, "period_s": "600"})
    shown = after(admin, added)
    assert "Đã thêm nguồn dữ liệu." in shown and "chưa đọc lần nào" in shown
    feed = feed_named(session, "ty-gia")
    assert feed is not None and feed.kind == "rates" and feed.period_s == 600

    source.answer = json.dumps({"rates": {"USD": 25430, "KHR": 6.32}, "observed_at": "2026-03-02T01:00:00Z"}).encode()
    read = after(admin, admin.post(f"/feeds/{feed.id}/read"))
    assert source.requests == 1
    assert "Đã đọc: USD 25.430 ₫ · KHR 6,3 ₫" in read and "Lỗi gần nhất" not in read  # as the strip prints it
    assert "02/03/2026 08:00" in read  # observed at, in Vietnam time

    source.answer = b'{"rates": {"USD": "hai lam nghin"}}'
    failed = after(admin, admin.post(f"/feeds/{feed.id}/read"))
    assert 'class="flash error"' in failed
    assert "Không đọc được nguồn: giá trị USD không phải là số: 'hai lam nghin'" in failed
    assert "Lỗi gần nhất" in failed and "USD 25.430 ₫" in failed  # the last good reading is kept
    assert "giá trị USD không phải là số" in page(admin, "/feeds")

    changed = after(admin, admin.post(f"/feeds/{feed.id}", {"name": "ty-gia-vcb", "kind": "rates",
                                                              "url": source.url + "?v=2", "period_s": "900"}))
    assert "Đã lưu." in changed
    feed = feed_named(session, "ty-gia-vcb")
    # A new source: the old source's reading is not shown as the new one's.
    assert feed is not None and feed.period_s == 900 and feed.values is None and feed.last_error is None

    bad = after(admin, admin.post(f"/feeds/{feed.id}", {"name": "ty gia", "kind": "rates", "url": source.url,
                                                         "period_s": "900"}))
    assert "tên nguồn dữ liệu phải gồm 1–64 chữ cái, chữ số, - hoặc _" in bad
    assert 'value="ty gia"' in bad  # the typed value is kept for correction
    slow = after(admin, admin.post("/feeds", {"name": "nhiet-do", "kind": "temperature", "url": source.url,
                                               "period_s": "5"}))
    assert "chu kỳ lấy dữ liệu phải từ 60 đến 86400 giây" in slow
    assert after(admin, admin.post("/feeds", {"name": "x", "kind": "rates", "url": "file:///etc/passwd",
                                              "period_s": "600"})).count("địa chỉ nguồn dữ liệu phải") == 1
    assert admin.post("/feeds", {"name": "x", "kind": "rates", "url": source.url, "period_s": "mười"}).status_code == 400

    feed_id = feed.id
    gone = after(admin, admin.post(f"/feeds/{feed_id}/delete"))
    assert "Đã xóa nguồn dữ liệu." in gone and feed_named(session, "ty-gia-vcb") is None
    assert admin.get(f"/feeds/{feed_id}").status_code == 404
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.entity == "feed")).all()
    assert sorted(set(actions)) == ["feed.create", "feed.delete", "feed.update"]


def test_a_feed_a_strip_reads_is_not_deleted_renamed_or_rekinded(session: Session, browsers: Browsers,
                                                                 users: dict[str, Any], world: dict[str, int],
                                                                 source: FakeFeed) -> None:
    feed = feeds.create_feed(session, actor=users["admin"], name="ty-gia", kind="rates", url=source.url,
                             period_s=600, now=NOW)
    screen = session.get_one(Screen, world["screen"])
    screen.zones = {"template": "main_side", "widgets": [{"kind": "rates", "feed": "ty-gia", "max_age_s": 86400}]}
    session.add(screen)
    session.commit()
    admin = browsers["admin"]
    shown = page(admin, f"/feeds/{feed.id}")
    assert screen.label in shown and "Dải thông tin của màn hình vẫn đang dùng nguồn này" in shown
    assert f'action="/feeds/{feed.id}/delete"' not in shown  # no button that can only be refused
    refused = after(admin, admin.post(f"/feeds/{feed.id}/delete"))
    assert (f"nguồn dữ liệu ty-gia đang hiện trên dải thông tin của {screen.label}: hãy gỡ nguồn khỏi các dải đó "
            "trước khi xóa") in refused
    renamed = after(admin, admin.post(f"/feeds/{feed.id}", {"name": "gia", "kind": "rates", "url": source.url,
                                                             "period_s": "600"}))
    assert "trước khi đổi tên" in renamed
    rekinded = after(admin, admin.post(f"/feeds/{feed.id}", {"name": "ty-gia", "kind": "temperature",
                                                              "url": source.url, "period_s": "600"}))
    assert "trước khi đổi loại" in rekinded
    assert feed_named(session, "ty-gia") is not None and feed_named(session, "gia") is None
    # The period and the address may still change.
    assert "Đã lưu." in after(admin, admin.post(f"/feeds/{feed.id}", {"name": "ty-gia", "kind": "rates",
                                                                       "url": source.url, "period_s": "1200"}))
    # Once the strip no longer reads it, it goes.
    screen.zones = {"template": "main_side", "widgets": [{"kind": "clock"}]}
    session.add(screen)
    session.commit()
    assert "Đã xóa nguồn dữ liệu." in after(admin, admin.post(f"/feeds/{feed.id}/delete"))


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[list[tuple[str, bytes]]] = []

    def publish_feeds(self, items: list[tuple[str, bytes]]) -> None:
        self.sent.append(list(items))


def test_the_api_reads_now_and_the_screens_get_the_new_reading_once_it_commits(
        session: Session, api: Api, app: Any, users: dict[str, Any], world: dict[str, int],
        source: FakeFeed) -> None:
    feed = feeds.create_feed(session, actor=users["admin"], name="nhiet-do", kind="temperature", url=source.url,
                             period_s=600, now=NOW)
    screen = session.get_one(Screen, world["screen"])
    screen.zones = {"template": "main_side", "widgets": [{"kind": "temperature", "feed": "nhiet-do"}]}
    screen.enrolment = Enrolment.ENROLLED
    session.add(screen)
    session.commit()
    transport = FakeTransport()
    app.state.transport = transport
    try:
        assert api.as_("operator").post(f"/api/v1/feeds/{feed.id}/read").status_code == 403
        source.answer = b'{"temperature_c": 31.4}'
        read = api.as_("admin").post(f"/api/v1/feeds/{feed.id}/read")
        assert read.status_code == 200 and read.json()["values"] == {"c": 31.4} and read.json()["last_error"] is None
        assert [[wire for wire, _body in batch] for batch in transport.sent] == [[str(screen.id)]]
        again = api.as_("admin").post(f"/api/v1/feeds/{feed.id}/read")  # same value: nothing new to send
        assert again.status_code == 200 and len(transport.sent) == 1
    finally:
        app.state.transport = None
    assert api.as_("admin").delete(f"/api/v1/feeds/{feed.id}").status_code == 409
    assert api.as_("admin").get("/api/v1/feeds/999999").status_code == 404
    body = {"name": "nhiet-do", "kind": "temperature", "url": source.url, "period_s": 120}
    assert api.as_("admin").put(f"/api/v1/feeds/{feed.id}", json=body).json()["period_s"] == 120
