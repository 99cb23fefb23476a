"""An operator edits a schedule in a real Chromium: a mistake comes back marked, the fix lands on the list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, saved_id, upgrade_to_head
from signage_server.playlists import service as playlists
from signage_server.schedules import service as schedules
from signage_server.schedules.models import Schedule
from signage_server.screens import service as screens
from signage_server.users import service as users
from signage_server.users.models import Role
from tests.e2e.conftest import PASSWORD, require_chromium, serving

pytestmark = pytest.mark.browser
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine, dict[str, int]]]:
    """The real app on a free port (no broker needed for these pages), one operator, one scheduled screen."""
    require_chromium()
    settings = Settings(data_dir=tmp_path_factory.mktemp("schedule-e2e"), secret_key="e2e-secret-" + "s" * 40,
                        mqtt_enabled=False, run_scheduler=False)
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with Session(engine) as session:
        users.create_user(session, actor=None, username="operator", display_name="Operator", role=Role.OPERATOR,
                          password=PASSWORD, languages=[], now=NOW)
        site = screens.create_site(session, actor=None, slug="moc-bai", name="Mộc Bài", now=NOW)
        main = playlists.create_playlist(session, actor=None, name="moc-bai-main", now=NOW)
        night = playlists.create_playlist(session, actor=None, name="moc-bai-night", now=NOW)
        screen = screens.create_screen(session, actor=None, fields={
            "site_id": site.id, "name": "moc-bai-arrivals", "width_px": 768, "height_px": 384,
            "pixel_pitch_mm": 5.0, "languages": ["vi", "en", "km"], "default_playlist_id": main.id}, now=NOW)
        schedule = schedules.create_schedule(session, actor=None, fields={
            "name": "evenings", "playlist_id": main.id, "priority": 1, "rule": {"windows": [
                {"start": "18:00", "end": "21:00"}]}}, screen_ids=[saved_id(screen)], now=NOW)
        session.commit()
        ids = {"screen": saved_id(screen), "schedule": saved_id(schedule), "night": saved_id(night)}
    with serving(create_app(settings, engine=engine)) as url:
        yield url, engine, ids
    engine.dispose()



def test_operator_edits_a_schedule_and_sees_it_on_the_list(served: tuple[str, Engine, dict[str, int]],
                                                            chromium: Any) -> None:
    base, engine, ids = served
    errors: list[str] = []
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(15_000)
    # Script errors and CSP refusals; the refused form's own 422 (and the favicon 404) are not page faults.
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/login")
    page.fill("#username", "operator")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")

    page.goto(base + "/schedules")
    page.click(f"a[href='/schedules/{ids['schedule']}']:text('Sửa')")
    page.wait_for_selector("h1:text('Sửa lịch: evenings')")
    assert page.input_value("#sc-windows") == "18:00-21:00"
    assert page.input_value("#sc-priority") == "1"

    # A window with no end comes back marked, with everything typed still in place.
    page.fill("#sc-name", "tet-nights")
    page.select_option("#sc-playlist", str(ids["night"]))
    page.fill("#sc-priority", "5")
    page.check("#sc-weekdays input[value='5']")
    page.check("#sc-weekdays input[value='6']")
    page.fill("#sc-windows", "22:00")
    page.fill("#sc-dates", "lunar 1/1")
    page.click("button:text('Lưu thay đổi')")
    error = page.wait_for_selector("#sc-windows-error")
    assert "06:00-22:00" in error.inner_text()
    assert page.get_attribute("#sc-windows", "aria-invalid") == "true"
    assert page.input_value("#sc-name") == "tet-nights" and page.input_value("#sc-dates") == "lunar 1/1"
    assert page.input_value("#sc-playlist") == str(ids["night"]) and page.input_value("#sc-priority") == "5"
    assert page.is_checked("#sc-weekdays input[value='6']")
    assert page.is_visible("h1:text('Sửa lịch: evenings')")  # nothing saved yet
    with Session(engine) as session:
        assert session.get_one(Schedule, ids["schedule"]).name == "evenings"

    # Fixed: an overnight window, saved; the list shows the new schedule (manifest effects: tests/server).
    page.fill("#sc-windows", "22:00-02:00")
    page.click("button:text('Lưu thay đổi')")
    page.wait_for_selector(".flash.info:text('Đã lưu lịch.')")
    row = page.locator("table.list tbody tr", has_text="tet-nights")
    text = row.inner_text()
    assert "moc-bai-night" in text and "22:00–02:00" in text and "Thứ Bảy, Chủ Nhật" in text
    assert "âm lịch 1/1" in text and "5" in text
    assert page.locator("table.list tbody tr", has_text="evenings").count() == 0
    with Session(engine) as session:
        stored = session.get_one(Schedule, ids["schedule"])
        assert (stored.name, stored.playlist_id, stored.priority) == ("tet-nights", ids["night"], 5)
    assert not errors, errors
