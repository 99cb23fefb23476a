"""Issue 15 in a real Chromium, in Vietnamese: the slides list (caption text, states, accent-free search),
retiring a slide, a caption-less slide's previews on every layout, and the readability warning while typing.

Screenshots are left in SIGNAGE_SCREENSHOT_DIR when it is set (1366 px wide).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage_server.app import create_app
from signage_server.assets import service as assets
from signage_server.assets.store import AssetStore
from signage_server.captions import service as captions
from signage_server.config import Settings
from signage_server.db import make_engine, saved_id, upgrade_to_head
from signage_server.playlists import service as playlists
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.users import service as users
from signage_server.users.models import Role
from tests.e2e.conftest import PASSWORD, require_chromium, serving
from tests.e2e.test_plain_vi_browser import _no_english, _shot
from tests.server.world import png

pytestmark = pytest.mark.browser
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LONG_VI = ("Đề nghị quý khách chấp hành nghiêm quy định về xuất nhập cảnh, xuất trình hộ chiếu và giấy tờ hợp lệ "
           "cho lực lượng biên phòng, không mang hàng cấm, khai báo hải quan trung thực. ") * 6


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    require_chromium()
    settings = Settings(data_dir=tmp_path_factory.mktemp("slides-e2e"), secret_key="e2e-secret-" + "s" * 40,
                        mqtt_enabled=False, run_scheduler=False)
    engine: Engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with Session(engine) as session:
        operator = users.create_user(session, actor=None, username="operator", display_name="Vận hành",
                                     role=Role.OPERATOR, password=PASSWORD, languages=[], now=NOW)
        asset, _new = assets.store_image(session, actor=operator, store=AssetStore(settings.assets_dir),
                                         data=png(64, 32, (220, 20, 20)), max_bytes=10**6, max_pixels=10**7, now=NOW)
        picture = slides.create_slide(session, actor=operator, name="bien-bao", asset_id=asset.id, now=NOW)
        words = slides.create_slide(session, actor=operator, name="cua-khau", now=NOW)
        captions.write_caption(session, actor=operator, slide_id=saved_id(words), language="vi",
                               text="Khu vực cửa khẩu quốc tế", now=NOW)
        main = playlists.create_playlist(session, actor=operator, name="hoa-lu-main", display_name="Hoa Lư – chính",
                                         items=[playlists.ItemSpec(slide_id=saved_id(picture), duration_s=10)], now=NOW)
        site = screens.create_site(session, actor=None, slug="hoa-lu", name="Hoa Lư", now=NOW)
        for name, layout in (("hoa-lu-arrivals", "stacked"), ("hoa-lu-square", "rotate")):
            screens.create_screen(session, actor=None, fields={
                "site_id": site.id, "name": name, "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
                "layout": layout, "languages": ["vi", "en", "km"], "default_playlist_id": main.id}, now=NOW)
        session.commit()
        ids = {"picture": saved_id(picture), "words": saved_id(words)}
    with serving(create_app(settings, engine=engine)) as url:
        yield url, ids
    engine.dispose()


@pytest.fixture(scope="module")
def page(served: tuple[str, dict[str, int]], chromium: Any) -> Any:
    tab = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="vi-VN").new_page()
    tab.set_default_timeout(15_000)
    tab.goto(served[0] + "/login")
    tab.fill("#username", "operator")
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_selector("nav")
    return tab


def test_slides_list_search_and_retire_in_vietnamese(served: tuple[str, dict[str, int]], page: Any) -> None:
    base, ids = served
    page.goto(base + "/slides")
    row = page.locator(f"tr[data-slide='{ids['words']}']")
    assert "Khu vực cửa khẩu quốc tế" in row.inner_text() and "chưa duyệt" in row.inner_text()
    _shot(page, "slides-list")
    page.fill("#q", "quoc te")
    page.click("form.slide-filters button[type=submit]")
    page.wait_for_url("**/slides?q=quoc+te*")
    assert page.locator("tr[data-slide]").count() == 1 and page.locator(f"tr[data-slide='{ids['words']}']").count()
    assert page.input_value("#q") == "quoc te"  # the search stays in its box
    page.locator(f"tr[data-slide='{ids['words']}'] button[value=retire]").click()
    page.wait_for_selector("p.flash.retired")
    assert "Đã cho trang nghỉ" in page.content()
    page.goto(base + "/slides")
    assert page.locator(f"tr[data-slide='{ids['words']}']").count() == 0
    page.select_option("#shown", "retired")
    page.click("form.slide-filters button[type=submit]")
    page.wait_for_selector(f"tr.retired[data-slide='{ids['words']}']")
    _shot(page, "slides-list-retired")
    _no_english(page.inner_text("main") if page.locator("main").count() else page.inner_text("body"), "slides")


def test_picture_only_previews_and_the_readability_warning(served: tuple[str, dict[str, int]], page: Any) -> None:
    base, ids = served
    page.goto(base + f"/slides/{ids['picture']}")
    page.wait_for_load_state("networkidle")
    frames = page.locator("img.frame")
    assert frames.count() == 2
    for i in range(frames.count()):  # every layout answers a picture, none a broken image
        assert page.evaluate("(img) => img.complete && img.naturalWidth", frames.nth(i).element_handle()) == 768
    assert page.locator("p.preview-note:visible").count() == 2
    assert "Chưa có chú thích" in page.locator("p.preview-note").first.inner_text()
    _shot(page, "slide-picture-only")
    page.fill("#text-vi", LONG_VI[:939])
    page.wait_for_selector("ul.readability li")
    warning = page.locator("figure.screen").first.inner_text()
    assert "không đọc được từ 10 m" in warning and "màn hình này chỉ hiện 10 giây" in warning, warning
    assert "Thời gian đọc ước tính: Tiếng Việt" in page.locator("p.reading").first.inner_text()
    assert page.locator("p.preview-note:visible").count() == 0
    _shot(page, "slide-readability")
    _no_english(page.locator("section.previews").inner_text(), "previews")
