"""The whole caption workflow in a real Chromium against the real app served by uvicorn."""

from __future__ import annotations

import io
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from PIL import Image, ImageDraw
from sqlmodel import Session

from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from signage_server.screens import service as screens
from signage_server.users import service as users
from signage_server.users.models import Role

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "border gate password"
SHOTS = Path(os.environ.get("SIGNAGE_TEST_OUTPUT", "test-output")) / "e2e"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a free port, with a temp data dir, accounts and one screen."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    data = tmp_path_factory.mktemp("webui-e2e")
    # The real managed Mosquitto, on a free port: the page flow runs against the whole server.
    settings = Settings(data_dir=data, secret_key="e2e-secret-" + "s" * 40, mqtt_port=_free_port())
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with Session(engine) as session:
        for name, role, langs in (("operator", Role.OPERATOR, []), ("translator", Role.TRANSLATOR, ["en", "km"]),
                                  ("reviewer", Role.TRANSLATOR, ["en", "km"]), ("approver", Role.APPROVER, []),
                                  ("admin", Role.ADMIN, [])):
            users.create_user(session, actor=None, username=name, display_name=name.title(), role=role,
                              password=PASSWORD, languages=langs, now=NOW)
        site = screens.create_site(session, actor=None, slug="moc-bai", name="Mộc Bài", now=NOW)
        screens.create_screen(session, actor=None, fields={
            "site_id": site.id, "name": "moc-bai-arrivals", "width_px": 768, "height_px": 384,
            "pixel_pitch_mm": 5.0, "languages": ["vi", "en", "km"]}, now=NOW)
        session.commit()
    port = _free_port()
    app = create_app(settings, engine=engine)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def _picture(path: Path) -> Path:
    image = Image.new("RGB", (1200, 600), (20, 60, 120))
    draw = ImageDraw.Draw(image)
    draw.rectangle((100, 100, 1100, 500), fill=(200, 160, 40))
    draw.ellipse((450, 200, 750, 400), fill=(180, 30, 30))
    buf = io.BytesIO()
    image.save(buf, format="JPEG")
    path.write_bytes(buf.getvalue())
    return path


def _login(chromium: object, base: str, username: str) -> object:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(base + "/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")
    return page


def _wait_preview(page: object) -> None:
    """Every preview frame has loaded (the renderer answered)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => Array.from(document.querySelectorAll('img.frame')).every(i => i.complete && i.naturalWidth > 0)")


def test_operator_translator_approver(server: str, chromium: object, tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    errors: list[str] = []

    # 1. The operator uploads a picture and writes the Vietnamese caption.
    op = _login(chromium, server, "operator")
    op.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    assert op.url.endswith("/slides")  # type: ignore[attr-defined]
    op.set_input_files("#files", str(_picture(tmp_path / "Cửa khẩu Mộc Bài.jpg")))  # type: ignore[attr-defined]
    link = op.wait_for_selector("#upload-list .good a")  # type: ignore[attr-defined]
    slide_href = link.get_attribute("href")
    assert op.locator("#upload-list progress").get_attribute("value") == "100"  # type: ignore[attr-defined]
    # A second picture by drag-and-drop: the drop handler uploads it with its own progress bar.
    banner = io.BytesIO()
    Image.new("RGB", (960, 160), (0, 90, 40)).save(banner, format="PNG")
    dropped = op.evaluate_handle(  # type: ignore[attr-defined]
        """([name, bytes]) => { const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/png'})); return dt; }""",
        ["Biển chữ chạy.png", list(banner.getvalue())])
    op.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})  # type: ignore[attr-defined]
    op.wait_for_function("() => document.querySelectorAll('#upload-list .good a').length === 2")  # type: ignore[attr-defined]
    op.screenshot(path=str(SHOTS / "1-operator-uploaded.png"), full_page=True)  # type: ignore[attr-defined]
    op.click(f"#upload-list a[href='{slide_href}']")  # type: ignore[attr-defined]
    op.wait_for_selector("#text-vi")  # type: ignore[attr-defined]
    op.fill("#text-vi", "Chào mừng quý khách đến cửa khẩu Mộc Bài")  # type: ignore[attr-defined]
    op.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('img.frame').src.includes('vi=')")
    _wait_preview(op)
    op.screenshot(path=str(SHOTS / "2-operator-caption-preview.png"), full_page=True)  # type: ignore[attr-defined]
    op.click("button[value=submit]")  # type: ignore[attr-defined]
    assert "Đã gửi đi dịch." in op.inner_text(".flash")  # type: ignore[attr-defined]
    slide_url = op.url  # type: ignore[attr-defined]
    slide_id = re.search(r"/slides/(\d+)", slide_url).group(1)  # type: ignore[union-attr]

    # 2. The translator writes English and Khmer, watching the preview and its problems.
    tr = _login(chromium, server, "translator")
    assert tr.url.endswith("/translate")  # type: ignore[attr-defined]
    tr.click(f"a[href='/translate/{slide_id}']")  # type: ignore[attr-defined]
    tr.fill("#text-en", "Welcome 漢字")  # type: ignore[attr-defined]
    tr.wait_for_selector("ul.field-problems[data-language=en] li")  # type: ignore[attr-defined]
    assert "English" in tr.inner_text("ul.field-problems[data-language=en]")  # type: ignore[attr-defined]
    tr.fill("#text-en", "Welcome to Moc Bai border gate")  # type: ignore[attr-defined]
    tr.wait_for_selector("ul.field-problems[data-language=en] li", state="detached")  # type: ignore[attr-defined]
    tr.click("form[action$='/en'] button[value=submit]")  # type: ignore[attr-defined]
    assert "Đã gửi bản dịch." in tr.inner_text(".flash")  # type: ignore[attr-defined]
    tr.fill("#text-km", "សូមស្វាគមន៍មកកាន់ច្រកទ្វារព្រំដែនមុកបៃ")  # type: ignore[attr-defined]
    tr.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('img.frame').src.includes('km=')")
    _wait_preview(tr)
    tr.screenshot(path=str(SHOTS / "3-translator-english-khmer.png"), full_page=True)  # type: ignore[attr-defined]
    tr.click("form[action$='/km'] button[value=submit]")  # type: ignore[attr-defined]
    assert "Đã gửi bản dịch." in tr.inner_text(".flash")  # type: ignore[attr-defined]

    # 3. A second translator approves both (four-eyes: nobody approves their own text).
    rv = _login(chromium, server, "reviewer")
    for lang in ("en", "km"):
        rv.goto(f"{server}/translate/{slide_id}")  # type: ignore[attr-defined]
        rv.click(f"form[action$='/{lang}'] button[value=approve]")  # type: ignore[attr-defined]
        assert "Đã duyệt chú thích." in rv.inner_text(".flash")  # type: ignore[attr-defined]

    # 4. The approver sees every language on the screen and approves the slide.
    ap = _login(chromium, server, "approver")
    assert ap.url.endswith("/approve")  # type: ignore[attr-defined]
    ap.click(f"a[href='/approve/{slide_id}']")  # type: ignore[attr-defined]
    _wait_preview(ap)
    ap.screenshot(path=str(SHOTS / "4-approver-preview.png"), full_page=True)  # type: ignore[attr-defined]
    ap.click("button.primary")  # type: ignore[attr-defined]
    assert "Đã duyệt trang." in ap.inner_text(".flash")  # type: ignore[attr-defined]
    ap.goto(f"{server}/slides")  # type: ignore[attr-defined]
    ap.screenshot(path=str(SHOTS / "5-approved-list.png"), full_page=True)  # type: ignore[attr-defined]
    row = ap.locator("table.list tbody tr", has=ap.locator(f"a[href='/slides/{slide_id}']")).inner_text()  # type: ignore[attr-defined]
    assert row.count("đã duyệt") == 3 and row.rstrip().endswith("có")
    assert not errors, errors  # no CSP violation or script error on the operator's pages
    assert time.monotonic() - started < 60
