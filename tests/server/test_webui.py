"""The web UI as each role meets it: who may open what, CSRF, headers, hostile uploads, inert markup."""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from signage_server.app import create_app
from signage_server.assets.models import Asset
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.config import Settings
from signage_server.screens import service as screens
from signage_server.screens.models import Enrolment
from signage_server.slides.models import Slide
from tests.server.conftest import PASSWORD, TEST_SECRET
from tests.server.world import NOW, png

ROLES = ("admin", "operator", "translator", "approver")
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # The shipped upload limit (50 MB), so the 60 MB refusal is the real one.
    return Settings(data_dir=tmp_path_factory.mktemp("var"), secret_key=TEST_SECRET, migrate_on_start=False,
                    max_body_bytes=64 * 1024)


class Browser:
    """A cookie-holding client logged in through the login form, like a person."""

    def __init__(self, app: Any, username: str | None) -> None:
        self.client = TestClient(app, follow_redirects=False)
        self.csrf = ""
        if username:
            page = self.client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            done = self.client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
            assert done.status_code == 303, done.text
            self.csrf = self.client.get("/api/v1/auth/me").json()["csrf_token"]

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kw)

    def follow(self, response: Any) -> Any:
        assert response.status_code == 303, response.text
        return self.client.get(response.headers["location"])


class Browsers(dict[str, Browser]):
    """Logged in on first use: each login costs an Argon2 hash."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def __missing__(self, name: str) -> Browser:
        self[name] = Browser(self.app, name)
        return self[name]


def assert_pages_by_role(app: Any, browsers: dict[str, Browser], pages: dict[str, set[str]]) -> None:
    """Each page sends a visitor to the login page and answers each role 200 if allowed, else a 403
    page that says why."""
    anon = Browser(app, None)
    for url, allowed in pages.items():
        gone = anon.get(url)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login?next="), url
        for role in ROLES:
            got = browsers[role].get(url)
            expected = 200 if role in allowed else 403
            assert got.status_code == expected, (url, role, got.status_code)
            if expected == 403 and got.headers["content-type"].startswith("text/html"):
                assert "Vai trò của bạn không được mở trang này." in got.text, (url, role)


def _pages(w: dict[str, int]) -> dict[str, set[str]]:
    slide, screen = w["pending_slide"], w["screen"]
    everyone = {"admin", "operator", "translator", "approver"}
    return {
        "/slides": everyone - set(), f"/slides/{slide}": everyone,
        f"/slides/{slide}/preview/{screen}.png": everyone, f"/slides/{slide}/preview.json": everyone,
        "/translate": {"admin", "translator"}, f"/translate/{slide}": {"admin", "translator"},
        "/approve": {"admin", "approver"}, f"/approve/{slide}": {"admin", "approver"},
        "/audit": {"admin", "approver"}, "/audit.csv": {"admin", "approver"},
        "/users": {"admin"}, "/users/1": {"admin"}, "/screens": {"admin"}, f"/screens/{screen}": {"admin"},
        "/password": everyone,
    }


def test_every_page_by_role(app: Any, world: dict[str, int], browsers: dict[str, Browser], seeded: Any) -> None:
    pages = {url.replace("/users/1", f"/users/{seeded['operator'][0]}"): allowed
             for url, allowed in _pages(world).items()}
    assert_pages_by_role(app, browsers, pages)


def test_menu_follows_the_role(browsers: dict[str, Browser]) -> None:
    menus = {role: set(re.findall(r'<li><a href="(/[a-z]+)"', browsers[role].get("/password").text)) for role in ROLES}
    assert menus["operator"] == {"/dashboard", "/slides", "/playlists", "/schedules", "/reports", "/groups"}
    assert menus["translator"] == {"/dashboard", "/slides", "/translate", "/reports"}
    assert menus["approver"] == {"/dashboard", "/slides", "/approve", "/alerts", "/audit", "/reports"}
    assert menus["admin"] == {"/dashboard", "/slides", "/playlists", "/schedules", "/translate", "/approve", "/alerts",
                              "/audit", "/reports", "/users", "/screens", "/groups", "/feeds"}


def test_forms_without_the_csrf_token_are_refused(browsers: dict[str, Browser], world: dict[str, int],
                                                  session: Any) -> None:
    op = browsers["operator"]
    bare = op.client.post(f"/slides/{world['draft_slide']}/caption", data={"text": "Giả mạo", "action": "save"})
    assert bare.status_code == 403 and "Biểu mẫu đã hết hạn" in bare.text
    wrong = op.client.post(f"/slides/{world['draft_slide']}/caption",
                           data={"text": "Giả mạo", "action": "save", "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    assert captions.find_caption(session, slide_id=world["draft_slide"], language="vi").text == "Bản nháp"
    assert op.client.post("/logout").status_code == 403  # logout too: no forced logout from another site
    ok = op.post(f"/slides/{world['draft_slide']}/caption", {"text": "Bản nháp mới", "action": "save"})
    assert ok.status_code == 303


def test_security_headers_on_pages_errors_and_static(app: Any, browsers: dict[str, Browser]) -> None:
    anon = TestClient(app, follow_redirects=False)
    for response in (browsers["operator"].get("/slides"), anon.get("/login"), anon.get("/static/app.css"),
                     anon.get("/api/v1/slides"), browsers["operator"].get("/users")):
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    page = browsers["operator"].get("/slides").text
    assert "<script>" not in page and " on" + "load=" not in page  # only <script src=...>, no inline code
    assert all(src.startswith("/static/") for src in re.findall(r'<script src="([^"]+)"', page))


def test_login_rotates_the_session_and_logout_ends_it(app: Any, world: dict[str, int]) -> None:
    b = Browser(app, "operator")
    first = b.client.cookies.get("signage_session")
    page = b.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    b.client.post("/login", data={"username": "operator", "password": PASSWORD, "csrf_token": token})
    second = b.client.cookies.get("signage_session")
    assert second and second != first
    stale = TestClient(app, follow_redirects=False, cookies={"signage_session": first})
    assert stale.get("/slides").status_code == 303  # the id brought to the login died with it
    b.csrf = b.get("/api/v1/auth/me").json()["csrf_token"]
    out = b.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    copied = TestClient(app, follow_redirects=False, cookies={"signage_session": second})
    assert copied.get("/slides").status_code == 303


def test_change_password(app: Any, browsers: dict[str, Browser], world: dict[str, int]) -> None:
    b = browsers["translator"]
    other = Browser(app, "translator")
    wrong = b.post("/password", {"current": "not it at all", "new": "a new long password"})
    assert wrong.status_code == 422 and "mật khẩu hiện tại không đúng" in wrong.text
    ok = b.post("/password", {"current": PASSWORD, "new": "a new long password"})
    assert ok.status_code == 303
    assert b.get("/translate").status_code == 200  # this browser continues on a fresh session
    assert other.get("/translate").status_code == 303  # the other session ended


def test_english_switch(browsers: dict[str, Browser]) -> None:
    b = browsers["operator"]
    assert "Trang trình chiếu" in b.get("/slides").text
    switched = b.get("/lang/en", params={"next": "/slides"})
    assert switched.headers["location"] == "/slides"
    page = b.get("/slides").text
    assert "Upload pictures" in page and '<html lang="en">' in page
    assert b.get("/lang/en", params={"next": "https://evil.example/"}).headers["location"] == "/"


def _slide_count(session: Any) -> int:
    return int(session.exec(select(func.count()).select_from(Slide)).one())


def _upload(b: Browser, name: str, data: bytes, kind: str = "image/png") -> Any:
    return b.follow(b.post("/slides/upload", files=[("files", (name, data, kind))]))


def test_upload_makes_a_slide_from_a_clean_copy(browsers: dict[str, Browser], session: Any) -> None:
    image = Image.new("RGB", (40, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown
    exif[0x010F] = "SecretCam GPS 10.1,106.2"
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif.tobytes())
    page = _upload(browsers["operator"], "../../etc/cổng Mộc Bài.jpg", buf.getvalue(), "image/jpeg")
    assert "cổng Mộc Bài: Đã tải lên" in page.text
    slide = session.exec(select(Slide).where(Slide.name == "cổng Mộc Bài")).one()
    asset = session.get(Asset, slide.asset_id)
    assert (asset.width_px, asset.height_px) == (20, 40)  # orientation applied
    stored = browsers["operator"].get(f"/api/v1/assets/{asset.id}/content").content
    assert b"SecretCam" not in stored and b"Exif" not in stored


@pytest.mark.parametrize("case", ["bomb", "truncated", "svg", "html_png", "huge"])
def test_hostile_uploads_are_refused_with_a_message(case: str, browsers: dict[str, Browser], session: Any) -> None:
    before = (_slide_count(session), int(session.exec(select(func.count()).select_from(Asset)).one()))
    b = browsers["operator"]
    if case == "bomb":
        name, data, message = "bomb.png", _png_bomb(30000, 30000), "giới hạn chống ảnh độc hại"
    elif case == "truncated":
        buf = io.BytesIO()
        Image.effect_noise((400, 300), 60).convert("RGB").save(buf, format="JPEG")
        name, data, message = "cut.jpg", buf.getvalue()[: len(buf.getvalue()) // 2], "bị cắt cụt hoặc hỏng"
    elif case == "svg":
        name, message = "logo.svg", "Không nhận SVG, HTML hay tập lệnh"
        data = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    elif case == "html_png":
        name, data, message = "photo.png", b"<html><body><script>alert(1)</script></body></html>", \
            "Không nhận SVG, HTML hay tập lệnh"
    else:
        name, data, message = "huge.png", png() + b"\0" * (60 * 1024 * 1024), "52428800"
    page = _upload(b, name, data)
    stem = name.rsplit(".", 1)[0]
    assert f"{stem}: Bị từ chối" in page.text and message in page.text, page.text[-2000:]
    assert "<script>alert(1)</script>" not in page.text
    after = (_slide_count(session), int(session.exec(select(func.count()).select_from(Asset)).one()))
    assert after == before  # nothing partial stored


def test_oversized_request_from_a_page_gets_a_page(engine: Any, tmp_path: Any) -> None:
    # A small limit, so the refusal costs kilobytes rather than the half gigabyte of the real one.
    small = create_app(Settings(data_dir=tmp_path, secret_key=TEST_SECRET, migrate_on_start=False,
                                max_upload_bytes=1000), engine=engine)
    client = TestClient(small, follow_redirects=False)
    files = [("files", ("x.png", b"\0" * 20_000, "image/png"))]
    page = client.post("/slides/upload", files=files, headers={"Accept": "text/html"})
    assert page.status_code == 413 and "text/html" in page.headers["content-type"] and "File too large" in page.text
    assert page.headers["x-content-type-options"] == "nosniff"
    api = client.post("/api/v1/assets", files={"file": ("x.png", b"\0" * 20_000, "image/png")})
    assert api.status_code == 413 and api.json()["error"]["code"] == "payload_too_large"


def _png_bomb(width: int, height: int) -> bytes:
    """A few kB on disk, gigabytes unpacked: the classic decompression bomb."""
    raw = zlib.compress(b"\0" * (1 + width // 8) * 64, 9)  # the header alone decides; the data can be short

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_markup_in_names_and_captions_is_inert(browsers: dict[str, Browser], world: dict[str, int], session: Any,
                                               users: Any) -> None:
    sid = world["pending_slide"]
    slide = session.get(Slide, sid)
    slide.name = "evil " + XSS
    session.add(slide)
    captions.write_caption(session, actor=users["translator"], slide_id=sid, language="en", text="EN " + XSS,
                           submit=True, now=NOW)
    admin = browsers["admin"]
    admin.post(f"/users/{users['operator'].id}", {"role": "operator", "display_name": "Op " + XSS, "is_active": "1"})
    session.flush()
    pages = [("operator", "/slides"), ("operator", f"/slides/{sid}"), ("translator", "/translate"),
             ("translator", f"/translate/{sid}"), ("approver", "/approve"), ("approver", f"/approve/{sid}"),
             ("admin", "/users"), ("approver", "/audit"), ("operator", "/password")]
    for role, url in pages:
        text = browsers[role].get(url).text
        assert "<script>alert" not in text and "<img src=x" not in text, (role, url)
    assert "&lt;script&gt;alert" in browsers["approver"].get(f"/approve/{sid}").text
    assert "Op &lt;script&gt;" in browsers["operator"].get("/password").text


def test_workflow_through_the_pages(browsers: dict[str, Browser], world: dict[str, int], session: Any) -> None:
    op, tr, ap = browsers["operator"], browsers["translator"], browsers["approver"]
    sid = world["free_slide"]
    page = op.follow(op.post(f"/slides/{sid}/caption", {"text": "Chào mừng đến cửa khẩu", "action": "submit"}))
    assert "Đã gửi đi dịch." in page.text
    queue = tr.get("/translate").text
    assert f'href="/translate/{sid}"' in queue and "Chào mừng đến cửa khẩu" in queue
    headings = re.findall(r"<h2>([^<]+)", tr.get(f"/translate/{sid}").text)
    assert any(h.startswith("Tiếng Anh") for h in headings) and any(h.startswith("Tiếng Khmer") for h in headings)
    assert not any(h.startswith(("English", "Khmer")) for h in headings)
    for lang, text in (("en", "Welcome to the border gate"), ("km", "សូមស្វាគមន៍មកកាន់ច្រកព្រំដែន")):
        done = tr.follow(tr.post(f"/translate/{sid}/{lang}", {"text": text, "action": "submit"}))
        assert "Đã gửi bản dịch." in done.text
    # Four-eyes: the translator cannot approve their own text; the button is not even offered.
    own = tr.follow(tr.post(f"/translate/{sid}/en", {"action": "approve"}))
    assert "người khác phải duyệt" in own.text
    assert f'href="/approve/{sid}"' in ap.get("/approve").text
    approved = ap.follow(ap.post(f"/approve/{sid}"))
    assert "Đã duyệt trang." in approved.text
    states = {c.language: c.state for c in session.exec(select(CaptionRevision).where(CaptionRevision.slide_id == sid))}
    assert states == {"vi": CaptionState.APPROVED, "en": CaptionState.APPROVED, "km": CaptionState.APPROVED}
    assert session.get(Slide, sid).approved_at is not None


def test_failing_caption_cannot_be_approved(browsers: dict[str, Browser], world: dict[str, int], users: Any) -> None:
    sid = world["pending_slide"]
    tr_en = browsers["translator_en"]
    b = browsers["translator"]
    # Characters no font of the screen has: the LED would show boxes.
    bad = "Welcome ꦗꦮ to Viet Nam"
    problems = tr_en.get(f"/slides/{sid}/preview.json", params={"en": bad}).json()
    assert any(p["language"] == "en" and p["code"] == "missing_glyph"
               for s in problems["screens"] for p in s["problems"])
    # Refused at submission already (the renderer validates on every target screen), so it never
    # reaches a reviewer, let alone a screen.
    refused = b.post(f"/translate/{sid}/en", {"text": bad, "action": "submit"})
    assert refused.status_code == 422 and "ꦗ" in refused.text and "U+A997" in refused.text
    stored = tr_en.get(f"/slides/{sid}/preview.json").json()
    assert not any(p["code"] == "missing_glyph" for s in stored["screens"] for p in s["problems"])
    # What the reviewer sees and could approve is still the old text, never the refused one.
    page = tr_en.get(f"/translate/{sid}").text
    assert "hoa-lu-arrivals" in page and "ꦗꦮ" not in page


def test_preview_is_the_renderer_at_screen_size(browsers: dict[str, Browser], world: dict[str, int]) -> None:
    b = browsers["operator"]
    sid, screen = world["slide"], world["screen"]
    shot = b.get(f"/slides/{sid}/preview/{screen}.png", params={"vi": "Xin chào"})
    assert shot.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(shot.content)) as img:
        assert img.size == (768, 384)
        lit = sum(img.convert("L").histogram()[129:])
    blank = b.get(f"/slides/{sid}/preview/{screen}.png", params={"vi": "", "en": "", "km": ""})
    with Image.open(io.BytesIO(blank.content)) as img:
        assert sum(img.convert("L").histogram()[129:]) < lit
    data = b.get(f"/slides/{sid}/preview.json", params={"km": "សូមស្វាគមន៍"}).json()
    assert {s["name"] for s in data["screens"]} >= {"hoa-lu-arrivals"}
    missing = b.get(f"/slides/{sid}/preview.json", params={"en": "Hello ☃︎ ꦗꦮ"}).json()
    assert any(p["code"] == "missing_glyph" for s in missing["screens"] for p in s["problems"])


def test_audit_filters_and_csv(browsers: dict[str, Browser], world: dict[str, int]) -> None:
    ap = browsers["approver"]
    page = ap.get("/audit", params={"user": "operator", "entity": "slide"}).text
    assert "Thêm trang trình chiếu" in page and "caption.create" not in page and ">slide.create<" not in page
    empty = ap.get("/audit", params={"since": "2030-01-01"}).text
    assert "Không có sự kiện phù hợp." in empty
    bad = ap.get("/audit", params={"since": "yesterday"})
    assert bad.status_code == 422 and "Từ ngày phải là ngày như 01/03/2026" in bad.text
    csv_text = ap.get("/audit.csv", params={"user": "operator"}).content.decode("utf-8-sig")
    lines = csv_text.strip().splitlines()
    assert lines[0] == "at,user,action,entity,entity_id,before,after"
    assert len(lines) > 1 and all(",operator," in line for line in lines[1:] if line.startswith("2026"))


def test_admin_manages_users_and_screens(browsers: dict[str, Browser], world: dict[str, int], app: Any) -> None:
    admin = browsers["admin"]
    made = admin.follow(admin.post("/users", {"username": "dich.vien", "display_name": "Dịch viên",
                                              "role": "translator", "languages": ["km"],
                                              "password": "long enough password"}))
    assert "Đã tạo người dùng." in made.text and "dich.vien" in made.text
    uid = int(re.search(r'href="/users/(\d+)">dich.vien<', made.text).group(1))  # type: ignore[union-attr]
    short = admin.follow(admin.post("/users", {"username": "x", "display_name": "Người X", "role": "approver",
                                               "password": "short"}))
    assert "mật khẩu phải có ít nhất 10 ký tự" in short.text and "characters" not in short.text
    # What was typed comes back, except the password.
    assert 'name="username" required maxlength="64" value="x"' in short.text and 'value="Người X"' in short.text
    assert '<option value="approver" selected>' in short.text and "short" not in short.text.split("<main>")[1]
    assert 'value="x"' not in admin.get("/users").text  # shown once
    newcomer = Browser(app, None)
    page = newcomer.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    login = newcomer.client.post("/login", data={"username": "dich.vien", "password": "long enough password",
                                                 "csrf_token": token})
    assert login.status_code == 303
    admin.follow(admin.post(f"/users/{uid}", {"role": "translator", "languages": ["km"], "display_name": "DV"}))
    assert newcomer.get("/translate").status_code == 303  # disabled: the session is gone
    reset = admin.follow(admin.post(f"/users/{uid}/password", {"password": "another long password"}))
    assert "Đã đặt lại mật khẩu" in reset.text
    screen = world["screen"]
    edited = admin.follow(admin.post(f"/screens/{screen}", {
        "name": "hoa-lu-arrivals", "site_id": str(world["site"]), "width_px": "640", "height_px": "320",
        "pixel_pitch_mm": "6", "layout": "rotate", "languages": ["vi", "km"], "foreign_ratio": "0.7",
        "on_time": "06:00", "off_time": "22:00"}))
    assert "Đã lưu." in edited.text and 'value="640"' in edited.text and 'value="06:00"' in edited.text
    bad = admin.follow(admin.post(f"/screens/{screen}", {
        "name": "hoa-lu-arrivals", "site_id": str(world["site"]), "width_px": "640", "height_px": "320",
        "pixel_pitch_mm": "6", "layout": "rotate", "languages": ["vi"], "on_time": "06:00"}))
    assert "giờ bật và giờ tắt phải đi cùng nhau" in bad.text
    assert 'name="languages" value="km">' in bad.text and 'name="languages" value="vi" checked>' in bad.text
    assert 'value="06:00"' in bad.text and 'id="off_time" name="off_time" type="time" value=""' in bad.text
    revoked = admin.follow(admin.post(f"/screens/{screen}/revoke"))
    assert "Đã thu hồi màn hình." in revoked.text and "đã thu hồi" in revoked.text
    added = admin.follow(admin.post("/screens", {
        "name": "moc-bai-exit", "site_id": str(world["site"]), "width_px": "960", "height_px": "160",
        "pixel_pitch_mm": "10", "layout": "ticker", "languages": ["vi", "en"]}))
    assert "Đã thêm màn hình." in added.text


def test_an_enrolled_screen_warns_that_a_new_code_cuts_the_running_box_off(
        browsers: dict[str, Browser], world: dict[str, int], session: Any) -> None:
    note = "thiết bị đang chạy màn hình sẽ bị ngắt kết nối ngay"
    assert note not in browsers["admin"].get(f"/screens/{world['screen']}").text  # pending: nothing runs it yet
    screens.set_enrolment(session, actor=None, screen_id=world["screen"], state=Enrolment.ENROLLED, now=NOW)
    session.flush()
    assert note in browsers["admin"].get(f"/screens/{world['screen']}").text


def test_every_page_text_has_a_vietnamese_translation() -> None:
    """A string added to a page without its catalog entry would show up in English."""
    from pathlib import Path

    from signage_server.i18n import CATALOG_DIR, translations

    root = Path(__file__).resolve().parents[2] / "signage_server"
    sources = [*root.glob("templates/*.html"), *root.glob("*/views.py"), root / "web.py"]
    found = {m.group(2) for path in sources
             for m in re.finditer(r"""(?:\b_|gettext_for\(request\))\((["'])(.+?)\1[),]""", path.read_text(encoding="utf-8"))}
    assert len(found) > 80
    vi = translations("vi")
    untranslated = sorted(text for text in found if vi.gettext(text) == text)
    assert not untranslated
    assert (CATALOG_DIR / "en" / "LC_MESSAGES" / "messages.po").exists()


def test_forms_refuse_the_wrong_role(browsers: dict[str, Browser], world: dict[str, int], seeded: Any) -> None:
    sid, uid = world["pending_slide"], seeded["operator"][0]
    for role, url, data in (("operator", "/users", {"username": "sneaky", "role": "admin", "password": "x" * 12}),
                            ("approver", f"/users/{uid}/password", {"password": "x" * 12}),
                            ("translator", f"/approve/{sid}", {}),
                            ("operator", f"/translate/{sid}/en", {"action": "submit", "text": "Hi"}),
                            ("translator", f"/slides/{sid}/caption", {"text": "Xin chào", "action": "save"}),
                            ("approver", "/slides/upload", {}),
                            ("operator", f"/screens/{world['screen']}/revoke", {})):
        refused = browsers[role].post(url, data)
        assert refused.status_code == 403, (role, url)


def test_rotating_screen_previews_each_language_with_khmer_break_hints(
        browsers: dict[str, Browser], world: dict[str, int], session: Any, users: Any) -> None:
    from signage_core.languages import Language
    from signage_server.screens import service as screens
    from signage_server.slides import preview

    screens.update_screen(session, actor=users["admin"], screen_id=world["screen"], fields={"layout": "rotate"},
                          now=NOW)
    page = browsers["approver"].get(f"/approve/{world['slide']}").text
    figure = page.split(f'data-screen="{world["screen"]}"')[1].split("</figure>")[0]
    assert re.findall(r'data-lang="(\w+)"', figure) == ["vi", "en", "km"]
    hinted = preview.for_renderer({Language.KM: "សូមស្វាគមន៍មកកាន់ប្រទេសវៀតណាម", Language.EN: "Welcome"})
    assert "\u200b" in hinted[Language.KM] and hinted[Language.EN] == "Welcome"
