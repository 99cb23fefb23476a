"""Issue 18 in Chromium: a translator sees the Khmer break points and inserts/removes one at the cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from signage_server.app import create_app
from signage_server.captions import service as captions
from signage_server.config import Settings
from signage_server.db import make_engine, saved_id, upgrade_to_head
from signage_server.playlists import service as playlists
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.users import service as users
from signage_server.users.models import Role
from tests.e2e.conftest import PASSWORD, require_chromium, serving
from tests.e2e.test_webui_browser import _login

pytestmark = pytest.mark.browser
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
KM = "ខេត្តប៊ិញភឿកសូមស្វាគមន៍"
ZWSP = "\u200b"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    require_chromium()
    data = tmp_path_factory.mktemp("breaks-e2e")
    settings = Settings(data_dir=data, secret_key="e2e-secret-" + "b" * 40, mqtt_port=0, mqtt_bind_host="127.0.0.1")
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with Session(engine) as session:
        operator = users.create_user(session, actor=None, username="operator", display_name="Operator",
                                     role=Role.OPERATOR, password=PASSWORD, languages=[], now=NOW)
        users.create_user(session, actor=None, username="translator", display_name="Translator",
                          role=Role.TRANSLATOR, password=PASSWORD, languages=["km"], now=NOW)
        site_row = screens.create_site(session, actor=None, slug="hoa-lu", name="Hoa Lư", now=NOW)
        main = playlists.create_playlist(session, actor=None, name="hoa-lu-main", now=NOW)
        screens.create_screen(session, actor=None, fields={
            "site_id": site_row.id, "name": "hoa-lu-arrivals", "width_px": 768, "height_px": 384,
            "pixel_pitch_mm": 5.0, "languages": ["vi", "km"], "default_playlist_id": main.id}, now=NOW)
        slide = slides.create_slide(session, actor=operator, name="welcome", now=NOW)
        captions.write_caption(session, actor=operator, slide_id=saved_id(slide), language="vi",
                             text="Chào mừng quý khách đến tỉnh Bình Phước", submit=True, now=NOW)
        session.commit()
        sid = int(slide.id)  # type: ignore[arg-type]
    with serving(create_app(settings, engine=engine)) as url:
        yield url, sid
    engine.dispose()


def test_a_translator_moves_khmer_break_points_at_the_cursor(site: tuple[str, int], chromium: Any) -> None:
    base, sid = site
    page: Any = _login(chromium, base, "translator")
    page.goto(f"{base}/translate/{sid}")
    page.fill("#text-km", KM)
    view = ".break-editor[data-for=text-km] .break-view"
    page.wait_for_function(f"() => document.querySelector('{view}').textContent.includes('\u2502')")
    # Automatic marks, the three words the issue names kept whole.
    assert page.inner_text(view).split("\u2502")[:2] == ["ខេត្ត", "ប៊ិញភឿក"]
    # Cursor after ប៊ិញ (index 9 of the plain text): insert a break there.
    page.evaluate("() => document.getElementById('text-km').setSelectionRange(9, 9)")
    page.click(".break-editor[data-for=text-km] [data-break=insert]")
    page.wait_for_function("() => document.getElementById('text-km').value.includes('\u200b')")
    typed = page.input_value("#text-km")
    assert typed.split(ZWSP)[:3] == ["ខេត្ត", "ប៊ិញ", "ភឿក"], typed  # the automatic ones kept, mine added
    page.wait_for_function(f"() => document.querySelector('{view}').textContent.split('\u2502').length === "
                           f"{typed.count(ZWSP) + 1}")
    assert "người dịch" in page.inner_text(".break-editor[data-for=text-km] .break-origin")
    # Cursor just after my break: remove it again.
    at = typed.index("ភឿក")
    page.evaluate(f"() => document.getElementById('text-km').setSelectionRange({at}, {at})")
    page.click(".break-editor[data-for=text-km] [data-break=remove]")
    page.wait_for_function("() => !document.getElementById('text-km').value.includes('ប៊ិញ\u200b')")
    kept = page.input_value("#text-km")
    assert kept.split(ZWSP)[:2] == ["ខេត្ត", "ប៊ិញភឿក"]
    page.wait_for_function(f"() => document.querySelector('{view}').textContent.split('\u2502').length === "
                           f"{kept.count(ZWSP) + 1}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "break-editor.png"), full_page=True)
    page.click("form[action$='/km'] button[value=save]")
    page.wait_for_load_state()
    assert page.input_value("#text-km") == kept  # stored as the translator left it
    page.context.close()
