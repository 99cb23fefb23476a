"""Issue 12 in a real Chromium with a real player: what is on air stays on air until its replacement is approved.

A live slide plays on an enrolled player. Two tabs edit its Vietnamese (the second save meets a conflict
page keeping both texts); a draft and a new approved Vietnamese leave the player's frame unchanged (the
previous consistent set); the translators find their captions outdated with a diff, update them, and the
moment the last translation is approved the player shows the new set. The click -> frame time is measured.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from signage_server.app import create_app
from signage_server.captions import service as captions
from signage_server.config import Settings
from signage_server.db import make_engine, saved_id, upgrade_to_head
from signage_server.demo import issue_code_for
from signage_server.manifests import service as manifests
from signage_server.manifests.keys import KeyRing
from signage_server.playlists import service as playlists
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.users import service as users
from signage_server.users.models import Role
from tests.e2e.conftest import PASSWORD, require_chromium, serving
from tests.e2e.test_webui_browser import (
    PLAYER,
    SHOTS,
    _login,
    _player_env,
    _png_hash,
    _screen_row,
    _wait,
)

pytestmark = pytest.mark.browser
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
OLD = {"vi": "Chào mừng quý khách đến cửa khẩu Mộc Bài", "en": "Welcome to Moc Bai border gate",
       "km": "សូមស្វាគមន៍មកកាន់ច្រកទ្វារព្រំដែនមុកបៃ"}
TAB_B = "Cửa khẩu Quốc tế Mộc Bài kính chào quý khách"
TAB_A = "Cửa khẩu Quốc tế Mộc Bài – tỉnh Tây Ninh kính chào quý khách"
NEW = {"en": "Moc Bai International Border Gate – Tay Ninh Province welcomes you",
       "km": "ច្រកទ្វារព្រំដែនអន្តរជាតិមុកបៃ ខេត្តតៃនិញ សូមស្វាគមន៍"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, str]]:
    """The real app with one screen playing one live slide (every caption and the slide approved)."""
    require_chromium()
    data = tmp_path_factory.mktemp("revisions-e2e")
    settings = Settings(data_dir=data, secret_key="e2e-secret-" + "r" * 40, mqtt_port=0, mqtt_bind_host="127.0.0.1")
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with Session(engine) as session:
        people = {name: users.create_user(session, actor=None, username=name, display_name=name.title(), role=role,
                                          password=PASSWORD, languages=langs, now=NOW)
                  for name, role, langs in (("operator", Role.OPERATOR, []),
                                            ("translator", Role.TRANSLATOR, ["en", "km"]),
                                            ("reviewer", Role.TRANSLATOR, ["en", "km"]),
                                            ("approver", Role.APPROVER, []), ("admin", Role.ADMIN, []))}
        slide = slides.create_slide(session, actor=people["operator"], name="moc-bai-welcome", now=NOW)
        for lang, writer, reviewer in (("vi", "operator", "approver"), ("en", "translator", "reviewer"),
                                       ("km", "translator", "reviewer")):
            captions.write_caption(session, actor=people[writer], slide_id=saved_id(slide), language=lang,
                                   text=OLD[lang], submit=True, now=NOW)
            captions.approve_caption(session, actor=people[reviewer], slide_id=saved_id(slide), language=lang, now=NOW)
        slides.approve_slide(session, actor=people["approver"], slide_id=saved_id(slide), now=NOW)
        gate = screens.create_site(session, actor=None, slug="moc-bai", name="Mộc Bài", now=NOW)
        main = playlists.create_playlist(session, actor=None, name="moc-bai-main", now=NOW,
                                         items=[playlists.ItemSpec(slide_id=saved_id(slide), duration_s=20)])
        screens.create_screen(session, actor=None, fields={
            "site_id": gate.id, "name": "moc-bai-arrivals", "width_px": 768, "height_px": 384,
            "pixel_pitch_mm": 5.0, "languages": ["vi", "en", "km"], "default_playlist_id": main.id}, now=NOW)
        session.commit()
        # As `signage-server demo-approve` does before a start: the server publishes compiled manifests.
        manifests.compile_screens(session, screen_ids=manifests.all_screen_ids(session),
                                  key=KeyRing(settings.data_dir).current(), now=datetime.now(UTC),
                                  horizon_days=settings.manifest_horizon_days)
        code = issue_code_for(session, screen_name="moc-bai-arrivals", secret=settings.resolved_secret_key(),
                              ttl=timedelta(hours=1), now=datetime.now(UTC))
        session.commit()
        slide_id = saved_id(slide)
    with serving(create_app(settings, engine=engine)) as url:
        yield url, slide_id, code
    engine.dispose()


def test_the_old_set_plays_until_the_new_set_is_approved(site: tuple[str, int, str], chromium: object,
                                                         tmp_path: Path) -> None:
    server, slide_id, code = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    state = tmp_path / "player"
    env = _player_env(state)
    enrolled = subprocess.run([str(PLAYER), "enroll", "--server", server, "--code", code], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
    assert enrolled.returncode == 0, enrolled.stderr
    log = tmp_path / "player.log"
    with log.open("wb") as out:
        player = subprocess.Popen([str(PLAYER), "run"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        _edit_translate_approve(chromium, server, slide_id, state / "screen.png", log)
    finally:
        player.terminate()
        try:
            player.wait(timeout=15)
        except subprocess.TimeoutExpired:
            player.kill()
            player.wait(timeout=5)


def _edit_translate_approve(chromium: Any, server: str, slide_id: int, screen_png: Path, log: Path) -> None:
    op = _login(chromium, server, "operator")

    def showing() -> str | None:
        row = _screen_row(op, server)
        shown = _png_hash(screen_png)
        return shown if str(row["slide_id"]) == str(slide_id) and shown == row["frame_hash"] else None

    old_frame = _wait("the player to show the live slide", showing, 45, log)

    # Two tabs of the same slide: the second save meets the first one's text and keeps its own.
    tab_a = op
    tab_a.goto(f"{server}/slides/{slide_id}")
    tab_b = op.context.new_page()
    tab_b.set_default_timeout(30_000)
    tab_b.goto(f"{server}/slides/{slide_id}")
    tab_b.fill("#text-vi", TAB_B)
    tab_b.click("button[value=save]")
    assert "Đã lưu bản nháp." in tab_b.inner_text(".flash")
    assert OLD["vi"] in tab_b.inner_text(".on-air")  # the live text still plays, and the page says so
    tab_a.fill("#text-vi", TAB_A)
    tab_a.click("button[value=save]")
    tab_a.wait_for_selector(".conflict")
    assert TAB_B in tab_a.inner_text(".conflict")
    assert tab_a.input_value("#text-vi") == TAB_A  # neither text is lost
    assert "Người khác đã sửa chú thích này" in tab_a.inner_text("[data-refusal=vi]")
    # The preview shows what is in the field (the typed text), not the stored one.
    tab_a.wait_for_function("() => document.querySelector('img.frame').src.includes('vi=')")
    tab_a.screenshot(path=str(SHOTS / "r1-conflict-both-texts.png"), full_page=True)
    # A draft never takes the slide off the air.
    time.sleep(2)
    assert showing() == old_frame
    tab_a.click("button[value=submit]")  # deliberately, with the other tab's revision in hand
    assert "Đã gửi đi dịch." in tab_a.inner_text(".flash")

    # The approver approves the new Vietnamese: its translations are outdated, so the old set keeps playing.
    ap = _login(chromium, server, "approver")
    ap.goto(f"{server}/approve/{slide_id}")
    ap.click("button.primary")
    assert "Đã duyệt trang." in ap.inner_text(".flash")
    time.sleep(3)
    assert showing() == old_frame

    # Back in the translators' queue with the change shown; they update both languages.
    tr = _login(chromium, server, "translator")
    tr.goto(f"{server}/translate")
    assert tr.locator(f"a[href='/translate/{slide_id}']").count() == 1
    tr.click(f"a[href='/translate/{slide_id}']")
    assert tr.locator("[data-outdated]").count() == 2
    assert "Tây Ninh" in " ".join(tr.locator("p.diff[data-diff=en] ins").all_inner_texts())
    assert "đến" in " ".join(tr.locator("p.diff[data-diff=en] del").all_inner_texts())
    tr.screenshot(path=str(SHOTS / "r2-translator-outdated-diff.png"), full_page=True)
    for lang in ("en", "km"):
        tr.fill(f"#text-{lang}", NEW[lang])
        tr.click(f"form[action$='/{lang}'] button[value=submit]")
        assert "Đã gửi bản dịch." in tr.inner_text(".flash")

    rv = _login(chromium, server, "reviewer")
    rv.goto(f"{server}/translate/{slide_id}")
    rv.click("form[action$='/en'] button[value=approve]")
    assert "Đã duyệt chú thích." in rv.inner_text(".flash")
    time.sleep(2)
    assert showing() == old_frame  # English alone does not break the set: Khmer of the new text is missing
    rv.goto(f"{server}/translate/{slide_id}")
    clicked = time.monotonic()
    rv.click("form[action$='/km'] button[value=approve]")
    new_frame = _wait("the player to show the new set", lambda: (f := showing()) and f != old_frame and f, 45, log)
    took = time.monotonic() - clicked
    assert "Đã duyệt chú thích." in rv.inner_text(".flash")
    assert new_frame != old_frame
    (SHOTS / "r3-player-new-set.png").write_bytes(screen_png.read_bytes())
    (SHOTS / "click-to-frame.txt").write_text(f"{took:.2f} s from the last approval click to the player's frame\n")
    print(f"click -> frame with revisions: {took:.2f} s")
