"""The whole caption workflow in a real Chromium against the real app served by uvicorn."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlmodel import Session

from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from signage_server.playlists import service as playlists
from signage_server.screens import service as screens
from signage_server.users import service as users
from signage_server.users.models import Role
from tests.e2e.conftest import PASSWORD, require_chromium, serving

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("SIGNAGE_TEST_OUTPUT", "test-output")) / "e2e"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a free port, with a temp data dir, accounts and one screen."""
    require_chromium()
    data = tmp_path_factory.mktemp("webui-e2e")
    # The real managed Mosquitto, on a port it picks: the page flow runs against the whole server.
    settings = Settings(data_dir=data, secret_key="e2e-secret-" + "s" * 40, mqtt_port=0, mqtt_bind_host="127.0.0.1")
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with Session(engine) as session:
        for name, role, langs in (("operator", Role.OPERATOR, []), ("translator", Role.TRANSLATOR, ["en", "km"]),
                                  ("reviewer", Role.TRANSLATOR, ["en", "km"]), ("approver", Role.APPROVER, []),
                                  ("admin", Role.ADMIN, [])):
            users.create_user(session, actor=None, username=name, display_name=name.title(), role=role,
                              password=PASSWORD, languages=langs, now=NOW)
        site = screens.create_site(session, actor=None, slug="moc-bai", name="Mộc Bài", now=NOW)
        # The screen plays this playlist by default; the operator fills it in the page.
        main = playlists.create_playlist(session, actor=None, name="moc-bai-main", now=NOW)
        screens.create_screen(session, actor=None, fields={
            "site_id": site.id, "name": "moc-bai-arrivals", "width_px": 768, "height_px": 384,
            "pixel_pitch_mm": 5.0, "languages": ["vi", "en", "km"], "default_playlist_id": main.id}, now=NOW)
        session.commit()
    with serving(create_app(settings, engine=engine)) as url:
        yield url
    engine.dispose()



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
    page.set_default_timeout(30_000)  # previews render on the server: 15 s was once too short on a loaded 2-core box
    page.goto(base + "/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")
    return page


@contextmanager
def _script_held_back(page: Any, script: str) -> Iterator[None]:
    """The page's /static/<script> is answered only when the block ends: what a slow link does."""
    held: list[Any] = []
    pattern = f"**/static/{script}"
    page.route(pattern, lambda route: held.append(route))
    yield
    deadline = time.monotonic() + 30
    while not held:
        assert time.monotonic() < deadline, f"the page never asked for {script}"
        page.wait_for_timeout(50)
    held[0].continue_()
    page.unroute(pattern)


def _wait_preview(page: object) -> None:
    """Every preview frame has loaded (the renderer answered)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => Array.from(document.querySelectorAll('img.frame')).every(i => i.complete && i.naturalWidth > 0)")


PLAYER = Path(sys.executable).parent / "signage-player"


def _player_env(state: Path) -> dict[str, str]:
    """A headless player: png output, fast heartbeats and thumbnails so the test need not wait long."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
    env.update({"SIGNAGE_PLAYER_STATE_DIR": str(state), "SIGNAGE_PLAYER_OUTPUT": "png",
                "SIGNAGE_PLAYER_HEARTBEAT_PERIOD_S": "1", "SIGNAGE_PLAYER_SCREENSHOT__PERIOD_S": "2",
                "SIGNAGE_PLAYER_LOG_LEVEL": "INFO"})
    return env


def _png_hash(path: Path) -> str | None:
    """The frame hash of the player's png as the renderer defines it (sha256 of the RGB bytes)."""
    try:
        with Image.open(path) as img:
            return hashlib.sha256(img.convert("RGB").tobytes()).hexdigest()
    except (OSError, ValueError):
        return None  # being replaced right now; the next look will do


def _wait(what: str, check: object, timeout: float, log: Path | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()  # type: ignore[operator]
        if found:
            return found
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _screen_row(page: object, base: str) -> dict[str, object]:
    got = page.request.get(base + "/dashboard.json")  # type: ignore[attr-defined]
    assert got.ok, got.status
    return json.loads(got.text())["screens"][0]  # type: ignore[no-any-return]


def test_whole_path_to_a_real_player(server: str, chromium: object, tmp_path: Path) -> None:
    """Enrol a real player in the page, take a slide through every role, see it on the player and the dashboard."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    errors: list[str] = []

    # 0. The admin issues an enrolment code in the page; a real signage-player enrols with the command shown.
    ad = _login(chromium, server, "admin")
    ad.goto(f"{server}/screens")  # type: ignore[attr-defined]
    ad.click("a:text('moc-bai-arrivals')")  # type: ignore[attr-defined]
    ad.click("text=Cấp mã đăng ký")  # type: ignore[attr-defined]
    command = ad.inner_text("#enrol-command")  # type: ignore[attr-defined]
    fingerprint = ad.inner_text("#key-fingerprint")  # type: ignore[attr-defined]
    ad.screenshot(path=str(SHOTS / "0-admin-enrolment-code.png"), full_page=True)  # type: ignore[attr-defined]
    argv = shlex.split(command)
    assert argv[:2] == ["signage-player", "enroll"] and f"--server {server}" in command
    state = tmp_path / "player"
    env = _player_env(state)
    enrolled = subprocess.run([str(PLAYER), *argv[1:]], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
    assert enrolled.returncode == 0, enrolled.stderr
    assert "enrolled as screen" in enrolled.stdout and fingerprint in enrolled.stdout
    log = tmp_path / "player.log"
    with log.open("wb") as out:
        player = subprocess.Popen([str(PLAYER), "run"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        screen_png = state / "screen.png"
        waiting = _wait("the player's waiting card", lambda: screen_png.exists() and _png_hash(screen_png), 30, log)
        _caption_workflow(chromium, server, tmp_path, errors, player_log=log, screen_png=screen_png,
                          waiting_hash=str(waiting))
    finally:
        player.send_signal(signal.SIGTERM)
        try:
            player.wait(timeout=15)
        except subprocess.TimeoutExpired:
            player.kill()
            player.wait(timeout=5)
    assert not errors, errors  # no CSP violation or script error on the pages
    assert time.monotonic() - started < 120


def _caption_workflow(chromium: object, server: str, tmp_path: Path, errors: list[str], *, player_log: Path,
                      screen_png: Path, waiting_hash: str) -> None:
    # 1. The operator uploads a picture and writes the Vietnamese caption.
    op = _login(chromium, server, "operator")
    op.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    assert op.url.endswith("/slides")  # type: ignore[attr-defined]
    # The picture is chosen before the upload script has loaded (a slow link): it still goes up.
    with _script_held_back(op, "upload.js"):
        op.goto(server + "/slides", wait_until="commit")  # type: ignore[attr-defined]
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
    # ... and puts it on the screen's playlist.
    op.click("nav a[href='/playlists']")  # type: ignore[attr-defined]
    op.click("a:text('moc-bai-main')")  # type: ignore[attr-defined]
    op.select_option("#add_slide", slide_id)  # type: ignore[attr-defined]
    op.fill("#add_duration", "20")  # type: ignore[attr-defined]
    op.click("#add-button")  # type: ignore[attr-defined]
    assert "Đã lưu danh sách phát." in op.inner_text(".flash")  # type: ignore[attr-defined]
    assert op.locator("tr.item").count() == 1  # type: ignore[attr-defined]
    op.screenshot(path=str(SHOTS / "2b-operator-playlist.png"), full_page=True)  # type: ignore[attr-defined]

    # 2. The translator writes English and Khmer, watching the preview and its problems.
    tr = _login(chromium, server, "translator")
    assert tr.url.endswith("/translate")  # type: ignore[attr-defined]
    # On a slow link the translator types before the preview script has loaded: hold the script
    # back until the text is in, so the page must notice text typed early (it once waited for the
    # next keystroke, and this test raced on it under load).
    with _script_held_back(tr, "preview.js"):
        tr.click(f"a[href='/translate/{slide_id}']")  # type: ignore[attr-defined]
        tr.fill("#text-en", "Welcome ꦗꦮ")  # type: ignore[attr-defined]
    tr.wait_for_selector("ul.field-problems[data-language=en] li")  # type: ignore[attr-defined]
    # In the page's language, naming the character: the words submit would refuse it with.
    assert "U+A997" in tr.inner_text("ul.field-problems[data-language=en]")  # type: ignore[attr-defined]
    assert "phông chữ" in tr.inner_text("ul.field-problems[data-language=en]")  # type: ignore[attr-defined]
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

    # 4. The approver approves; the follow-up page shows the screen acknowledging the new manifest.
    ap = _login(chromium, server, "approver")
    ap.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    assert ap.url.endswith("/approve")  # type: ignore[attr-defined]
    ap.click(f"a[href='/approve/{slide_id}']")  # type: ignore[attr-defined]
    _wait_preview(ap)
    ap.screenshot(path=str(SHOTS / "4-approver-preview.png"), full_page=True)  # type: ignore[attr-defined]
    ap.click("button.primary")  # type: ignore[attr-defined]
    assert "Đã duyệt trang." in ap.inner_text(".flash")  # type: ignore[attr-defined]
    assert ap.url.endswith(f"/approve/{slide_id}/rollout")  # type: ignore[attr-defined]
    ap.screenshot(path=str(SHOTS / "5-approver-publishing.png"), full_page=True)  # type: ignore[attr-defined]
    ap.wait_for_selector("td[data-field=ack] .ok", timeout=45_000)  # type: ignore[attr-defined]
    ap.screenshot(path=str(SHOTS / "6-approver-acknowledged.png"), full_page=True)  # type: ignore[attr-defined]

    # 5. The player's png shows the slide: no longer the waiting card, and its hash is what the heartbeat reports.
    def showing_slide() -> dict[str, object] | None:
        row = _screen_row(ap, server)
        shown = _png_hash(screen_png)
        ok = str(row["slide_id"]) == slide_id and shown == row["frame_hash"] and shown != waiting_hash
        return row if ok else None

    row = _wait("the player to show the approved slide", showing_slide, 30, player_log)
    assert row["acknowledged"] and row["state"] == "online"  # type: ignore[index]
    (SHOTS / "7-player-screen.png").write_bytes(screen_png.read_bytes())
    shown_at = datetime.now(UTC).isoformat()

    # 6. The dashboard shows that screen's thumbnail of it.
    _wait("a screenshot taken after the slide came up",
          lambda: str(_screen_row(ap, server)["screenshot_at"] or "") > shown_at, 20, player_log)
    ap.goto(f"{server}/dashboard")  # type: ignore[attr-defined]
    ap.wait_for_function(  # type: ignore[attr-defined]
        "() => { const i = document.querySelector('img.thumb'); return i && i.complete && i.naturalWidth > 0; }")
    assert "Mộc Bài" in ap.inner_text("main") and "trực tuyến" in ap.inner_text("main")  # type: ignore[attr-defined]
    ap.screenshot(path=str(SHOTS / "8-dashboard-thumbnail.png"), full_page=True)  # type: ignore[attr-defined]
    thumb_url = ap.get_attribute("img.thumb", "src")  # type: ignore[attr-defined]
    with Image.open(io.BytesIO(ap.request.get(server + thumb_url).body())) as thumb:  # type: ignore[attr-defined]
        small = thumb.convert("L")
    with Image.open(screen_png) as frame:
        expected = frame.convert("L").resize(small.size)
    diff = sum(abs(a - b) for a, b in zip(small.tobytes(), expected.tobytes(), strict=True)) / len(small.tobytes())
    assert diff < 12, f"dashboard thumbnail differs from the player's frame (mean |Δ| {diff:.1f})"
