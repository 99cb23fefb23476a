"""Issue 15, the slide pages: previews that never fail, a slide list a person can use, retiring a slide,
and the readability check at preview and approval."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from sqlmodel import select

from signage_server.config import Settings
from signage_server.playlists import service as playlists
from signage_server.screens import service as screens
from signage_server.slides.models import Slide
from tests.server.conftest import TEST_SECRET
from tests.server.test_webui import Browsers
from tests.server.world import NOW, png


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("var"), secret_key=TEST_SECRET, migrate_on_start=False)


def _fresh_picture_slide(browsers: Browsers, session: Any, name: str) -> int:
    """What an operator does first: drop a picture on the slides page; no caption yet."""
    b = browsers["operator"]
    done = b.post("/slides/upload", files=[("files", (f"{name}.png", png(64, 32, (220, 20, 20)), "image/png"))])
    assert done.status_code == 303, done.text
    slide = session.exec(select(Slide).where(Slide.name == name)).one()
    return slide.id  # type: ignore[no-any-return]


def test_a_slide_without_captions_previews_its_picture_on_every_layout(
        browsers: Browsers, world: dict[str, int], session: Any, users: Any) -> None:
    rotate = screens.create_screen(session, actor=users["admin"], fields={
        "site_id": world["site"], "name": "hoa-lu-rotate", "width_px": 384, "height_px": 192,
        "pixel_pitch_mm": 5.0, "layout": "rotate", "languages": ["vi", "en"]}, now=NOW)
    session.commit()
    sid = _fresh_picture_slide(browsers, session, "bien-bao")
    b = browsers["operator"]
    layouts = {}
    for screen_id in (world["screen"], world["spare_screen"], rotate.id):
        shot = b.get(f"/slides/{sid}/preview/{screen_id}.png")
        assert shot.status_code == 200 and shot.headers["content-type"] == "image/png", (screen_id, shot.text[:200])
        screen = screens.get_screen(session, screen_id=screen_id)  # type: ignore[arg-type]
        layouts[screen.layout.value] = screen_id
        with Image.open(io.BytesIO(shot.content)) as img:
            assert img.size == (screen.width_px, screen.height_px)
            red, green, _blue = img.convert("RGB").getpixel((screen.width_px // 2, screen.height_px // 2))
            assert red > 100 and green < 60, (screen.layout, red, green)  # the picture, not a black frame
        # The same for the frame of one language, and for text being typed that the renderer refuses.
        assert b.get(f"/slides/{sid}/preview/{screen_id}.png", params={"lang": "vi", "vi": ""}).status_code == 200
    assert set(layouts) == {"stacked", "rotate", "ticker"}
    data = b.get(f"/slides/{sid}/preview.json").json()
    notes = {s["id"]: s["note"] for s in data["screens"]}
    assert all(notes[i].startswith("Chưa có chú thích") for i in layouts.values()), notes
    page = b.get(f"/slides/{sid}")
    assert page.status_code == 200 and page.text.count("Chưa có chú thích: bản xem trước chỉ hiện ảnh") >= 3
    typed = b.get(f"/slides/{sid}/preview.json", params={"vi": "Xin chào"}).json()
    assert not any(s["note"] for s in typed["screens"])
    b.client.cookies.set("signage_lang", "en")
    english = b.get(f"/slides/{sid}/preview.json").json()
    assert all(s["note"].startswith("No caption yet") for s in english["screens"])


def test_slides_list_shows_text_and_states_and_finds_without_accents(
        browsers: Browsers, world: dict[str, int], session: Any, users: Any) -> None:
    from signage_server.captions import service as captions

    captions.write_caption(session, actor=users["operator"], slide_id=world["free_slide"], language="vi",
                           text="Khu vực cửa khẩu quốc tế", now=NOW)
    session.commit()
    b = browsers["operator"]
    page = b.get("/slides").text
    row = page.split(f'data-slide="{world["slide"]}"')[1].split("</tr>")[0]
    assert "Chào mừng quý khách đến với Việt Nam" in row and 'data-state="live"' in row
    pending_row = page.split(f'data-slide="{world["pending_slide"]}"')[1].split("</tr>")[0]
    assert "Đề nghị quý khách chấp hành" in pending_row and "chưa duyệt" in pending_row
    assert 'data-state="pending"' in pending_row and 'data-state="missing"' in pending_row
    found = b.get("/slides", params={"q": "quoc te"}).text
    assert f'data-slide="{world["free_slide"]}"' in found and f'data-slide="{world["slide"]}"' not in found
    # A query typed in decomposed Unicode (some keyboards) finds the composed text, and the reverse.
    import unicodedata
    assert f'data-slide="{world["free_slide"]}"' in b.get(
        "/slides", params={"q": unicodedata.normalize("NFD", "QUỐC TẾ")}).text
    api = b.get("/api/v1/slides", params={"q": "chao mung"}).json()
    assert [s["name"] for s in api["items"]] == ["welcome"]
    assert api["items"][0]["caption_states"]["vi"] == ["live"]
    pending = b.get("/api/v1/slides", params={"state": "pending"}).json()
    assert {s["name"] for s in pending["items"]} == {"traffic", "draft", "free"}
    in_playlist = b.get("/api/v1/slides", params={"playlist_id": world["playlist"]}).json()
    assert {s["name"] for s in in_playlist["items"]} == {"welcome", "traffic"}
    bad = b.get("/api/v1/slides", params={"state": "sideways"})
    assert bad.status_code == 422 and "state" in bad.json()["error"]["message"]


def _on_air(session: Any, screen_id: int) -> set[str]:
    import json

    from signage_server.manifests import service as manifests

    record = manifests.latest_manifest(session, screen_id=screen_id)
    assert record is not None
    body = json.loads(record.envelope)["body"]
    return {item["slide_id"] for p in body["playlists"].values() for item in p["items"]}


def _publishable_slide(session: Any, users: Any, name: str) -> int:
    from signage_server.captions import service as captions
    from signage_server.slides import service as slides

    slide = slides.create_slide(session, actor=users["operator"], name=name, now=NOW)
    for lang, text, writer in (("vi", "Khu vực kiểm soát", "operator"), ("en", "Control area", "translator"),
                               ("km", "តំបន់ត្រួតពិនិត្យ", "translator")):
        captions.write_caption(session, actor=users[writer], slide_id=slide.id, language=lang, text=text,
                               submit=True, now=NOW)
    for lang, approver in (("vi", "approver"), ("en", "translator_en"), ("km", "approver")):
        captions.approve_caption(session, actor=users[approver], slide_id=slide.id, language=lang, now=NOW)
    slides.approve_slide(session, actor=users["approver"], slide_id=slide.id, now=NOW)  # type: ignore[arg-type]
    return slide.id  # type: ignore[no-any-return]


def test_retiring_takes_a_slide_off_air_and_keeps_its_captions_history_and_airtime(
        browsers: Browsers, api: Any, world: dict[str, int], session: Any, users: Any) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from signage_core.languages import Language
    from signage_core.protocol import LanguageSegment, PlayLogBatch, PlayRecord
    from signage_server.reports import service as reports
    from signage_server.reports.calendar import Period
    from signage_server.slides import service as slides
    from signage_server.telemetry import service as telemetry

    sid, screen = world["slide"], world["screen"]
    slides.approve_slide(session, actor=users["approver"], slide_id=sid, now=NOW)
    screens.set_enrolment(session, actor=None, screen_id=screen, state=screens.Enrolment.ENROLLED, now=NOW)
    telemetry.record_playlog(session, screen_id=screen, received_at=NOW, batch=PlayLogBatch(
        screen_id=str(screen), records=[PlayRecord(
            record_id="r1", slide_id=str(sid), playlist_id=str(world["playlist"]), manifest_version="v1",
            started_at=NOW - timedelta(hours=1), duration_ms=600_000, frame_hash="ab" * 32,
            segments=[LanguageSegment(language=Language.VI, offset_ms=0, duration_ms=600_000)])]))
    session.commit()
    assert api.as_("admin").post(f"/api/v1/screens/{screen}/manifests/compile").status_code == 200
    assert str(sid) in _on_air(session, screen)

    # The only publishable slide of the screen's default playlist: retiring it would leave the screen nothing
    # new to show, and the compiler keeps the last manifest; refused, naming the screen, nothing changed.
    alone = api.as_("operator").post(f"/api/v1/slides/{sid}/retire")
    assert alone.status_code == 409 and "hoa-lu-arrivals" in alone.json()["error"]["message"], alone.text
    assert "không còn gì để phát" in alone.json()["error"]["display"]
    assert str(sid) in _on_air(session, screen)
    other = _publishable_slide(session, users, "second")
    playlists.update_playlist(session, actor=users["operator"], playlist_id=world["playlist"], items=[
        playlists.ItemSpec(slide_id=sid, duration_s=10), playlists.ItemSpec(slide_id=other, duration_s=10)],
        now=NOW)
    session.commit()
    assert api.as_("admin").post(f"/api/v1/screens/{screen}/manifests/compile").json()["new_version"]
    assert {str(sid), str(other)} <= _on_air(session, screen)
    assert api.as_("translator").post(f"/api/v1/slides/{sid}/retire").status_code == 403
    assert api.as_("approver").post(f"/api/v1/slides/{sid}/retire").status_code == 403
    retired = api.as_("operator").post(f"/api/v1/slides/{sid}/retire")
    assert retired.status_code == 200, retired.text
    assert retired.json()["retired"] is True and retired.json()["publishable"] is False
    # Off air in the same commit (the Recompiler), with the reason recorded.
    assert _on_air(session, screen) == {str(other)}
    listed = {s["id"] for s in api.as_("operator").get("/api/v1/slides").json()["items"]}
    assert sid not in listed
    found = api.as_("operator").get("/api/v1/slides", params={"shown": "retired"}).json()["items"]
    assert [s["id"] for s in found] == [sid] and len(found[0]["captions"]) == 3
    history = api.as_("operator").get(f"/api/v1/slides/{sid}/captions/vi/revisions")
    assert history.status_code == 200 and history.json()
    day = (NOW - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    airtime = reports.airtime(session, period=Period(day, day), tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert {a.key: a.seconds for a in airtime.by_slide}[str(sid)] == 600
    # The page: hidden by default, found with the filter, the audit log names the action.
    b = browsers["operator"]
    assert f'data-slide="{sid}"' not in b.get("/slides").text
    archive = b.get("/slides", params={"shown": "retired"}).text
    assert f'data-slide="{sid}"' in archive and "Đưa trở lại" in archive
    assert "Cho trang trình chiếu nghỉ" in browsers["approver"].get("/audit", params={"entity": "slide"}).text

    back = b.post(f"/slides/{sid}/retire", {"action": "restore"})
    assert back.status_code == 303
    assert "Đã đưa trang trở lại" in b.follow(back).text
    assert str(sid) in _on_air(session, screen)
    assert f'data-slide="{sid}"' in b.get("/slides").text
    refused = browsers["translator"].post(f"/slides/{sid}/retire", {"action": "retire"})
    assert refused.status_code == 403


LONG_VI = ("Đề nghị quý khách chấp hành nghiêm quy định về xuất nhập cảnh, xuất trình hộ chiếu và giấy tờ hợp lệ "
           "cho lực lượng biên phòng, không mang hàng cấm, khai báo hải quan trung thực. ") * 6


def test_a_939_character_caption_on_a_10_second_slide_is_flagged_at_preview_and_refused_at_approval(
        browsers: Browsers, api: Any, world: dict[str, int], session: Any, users: Any) -> None:
    from signage_server.captions import service as captions
    from signage_server.slides.readability import Rules

    text = LONG_VI[:939].rstrip()
    assert len(LONG_VI) >= 939
    sid = world["pending_slide"]
    playlists.update_playlist(session, actor=users["operator"], playlist_id=world["playlist"], items=[
        playlists.ItemSpec(slide_id=world["slide"], duration_s=10), playlists.ItemSpec(slide_id=sid, duration_s=10)],
        now=NOW)
    session.commit()
    b = browsers["operator"]
    data = b.get(f"/slides/{sid}/preview.json", params={"vi": text}).json()
    arrivals = next(s for s in data["screens"] if s["id"] == world["screen"])  # 768×384, P5, stacked
    assert not arrivals["problems"], arrivals["problems"]  # it fits: the renderer alone would accept it
    warnings = " ".join(arrivals["warnings"])
    assert "không đọc được từ 10 m" in warnings and "màn hình này chỉ hiện 10 giây" in warnings, warnings
    assert arrivals["reading"].startswith("Thời gian đọc ước tính: Tiếng Việt ")
    short = b.get(f"/slides/{sid}/preview.json", params={"vi": "Xin chào"}).json()
    assert not next(s for s in short["screens"] if s["id"] == world["screen"])["warnings"]
    # Submit sends it to review (the writer was warned); approval refuses it, naming both reasons.
    put = api.as_("operator").put(f"/api/v1/slides/{sid}/captions/vi", json={"text": text, "submit": True})
    assert put.status_code == 200, put.text
    refused = api.as_("approver").post(f"/api/v1/slides/{sid}/captions/vi/approve")
    assert refused.status_code == 422, refused.text
    codes = {p["code"] for p in refused.json()["error"]["details"]["problems"]}
    assert codes == {"unreadable_at_distance", "too_long_to_read"}
    on_page = browsers["approver"].post(f"/approve/{sid}")
    assert on_page.status_code == 303
    said = browsers["approver"].follow(on_page).text
    assert "chữ cao khoảng" in said and "không đọc được từ 10 m" in said and "cần khoảng 66 giây để đọc" in said
    page = b.get(f"/slides/{sid}").text
    assert "không đọc được từ 10 m" in page and "Thời gian đọc ước tính" in page
    # Configurable: a deployment that only warns lets the approver decide.
    approved = captions.approve_caption(session, actor=users["approver"], slide_id=sid, language="vi", now=NOW,
                                        readable=Rules(refuse=False))
    assert approved.state.value == "approved"


def test_viewing_distance_and_reading_speed_decide(session: Any) -> None:
    from signage_core.languages import Language
    from signage_core.render import ScreenSpec
    from signage_server.slides import readability

    spec = ScreenSpec(width=768, height=384, languages=(Language.VI,))
    captions = {Language.VI: "Chào mừng quý khách"}
    near = readability.check(spec, captions, pitch_mm=5, distance_m=5, duration_s=10, rules=readability.Rules(),
                             has_image=False)
    assert near.problems == [] and near.readings[0].words == 4
    far = readability.check(spec, captions, pitch_mm=5, distance_m=200, duration_s=10, rules=readability.Rules(),
                            has_image=False)
    assert [p.code.value for p in far.problems] == ["unreadable_at_distance"]
    slow = readability.check(spec, captions, pitch_mm=5, distance_m=5, duration_s=1, rules=readability.Rules(),
                             has_image=False)
    assert [p.code.value for p in slow.problems] == ["too_long_to_read"]
    # The sizes are the ones the player draws with, on every layout.
    from signage_core.render import TickerStrip

    ticker = ScreenSpec(width=960, height=160, layout="ticker")
    both = {Language.VI: "Chào mừng quý khách", Language.EN: "Welcome"}
    assert readability.font_sizes(ticker, both, has_image=False) == {
        b.language: b.size for b in TickerStrip(ticker, both).blocks}
    km = readability.words("សូមស្វាគមន៍មកកាន់ប្រទេសវៀតណាម", Language.KM)
    assert km >= 3  # Khmer writes no spaces: counted at ICU's word breaks


def test_a_screen_names_its_own_viewing_distance(browsers: Browsers, api: Any, world: dict[str, int]) -> None:
    sid, screen = world["slide"], world["screen"]
    bad = api.as_("admin").patch(f"/api/v1/screens/{screen}", json={"viewing_distance_m": -1})
    assert bad.status_code == 422 and "viewing_distance_m" in bad.json()["error"]["message"]

    def warned(distance: float | None) -> str:
        done = api.as_("admin").patch(f"/api/v1/screens/{screen}", json={"viewing_distance_m": distance})
        assert done.status_code == 200 and done.json()["viewing_distance_m"] == distance
        data = browsers["operator"].get(f"/slides/{sid}/preview.json", params={"vi": "Chào mừng quý khách"}).json()
        return " ".join(next(s for s in data["screens"] if s["id"] == screen)["warnings"])

    assert warned(2) == ""
    assert "không đọc được từ 400 m" in warned(400)
    assert warned(None) == ""  # the setting's 10 m


def test_a_playlist_marks_its_retired_slide_and_offers_it_no_more(
        browsers: Browsers, world: dict[str, int], session: Any, users: Any) -> None:
    from signage_server.slides import service as slides

    slides.retire_slide(session, actor=users["operator"], slide_id=world["pending_slide"], now=NOW)
    session.commit()
    page = browsers["operator"].get(f"/playlists/{world['playlist']}").text
    row = page.split(f'data-slide="{world["pending_slide"]}"')[1].split("</tr>")[0]
    assert "đã cho nghỉ" in row
    offered = page.split('id="add_slide"')[1].split("</select>")[0]
    assert f'value="{world["pending_slide"]}"' not in offered and f'value="{world["free_slide"]}"' in offered


def test_the_screen_form_sets_and_keeps_the_viewing_distance(browsers: Browsers, world: dict[str, int],
                                                             session: Any) -> None:
    admin, screen = browsers["admin"], world["screen"]
    form = {"name": "hoa-lu-arrivals", "site_id": str(world["site"]), "width_px": "768", "height_px": "384",
            "pixel_pitch_mm": "5", "layout": "stacked", "languages": ["vi", "en", "km"]}
    saved = admin.follow(admin.post(f"/screens/{screen}", {**form, "viewing_distance_m": "25"}))
    assert "Đã lưu." in saved.text and 'id="viewing_distance_m"' in saved.text and 'value="25.0"' in saved.text
    refused = admin.follow(admin.post(f"/screens/{screen}", {**form, "viewing_distance_m": "-3"}))
    assert "khoảng cách xem phải lớn hơn 0" in refused.text and 'value="-3"' in refused.text
    assert screens.get_screen(session, screen_id=screen).viewing_distance_m == 25


def test_domain_refusals_from_slides_playlists_captions_and_users_read_in_vietnamese(
        world: dict[str, int], session: Any, users: Any) -> None:
    from signage_server.captions import service as captions
    from signage_server.errors import SignageError
    from signage_server.i18n.errors import describe
    from signage_server.slides import service as slides
    from signage_server.users import service as users_service
    from signage_server.users.models import Role

    attempts = [
        (lambda: slides.create_slide(session, actor=users["operator"], name="welcome", now=NOW),
         "đã có trang trình chiếu tên 'welcome'"),
        (lambda: playlists.create_playlist(session, actor=users["operator"], name="hoa-lu-main", now=NOW),
         "đã có danh sách phát tên 'hoa-lu-main'"),
        (lambda: playlists.update_playlist(session, actor=users["operator"], playlist_id=world["playlist"], items=[
            playlists.ItemSpec(slide_id=world["slide"], duration_s=0.1)], now=NOW), "thời lượng phải từ"),
        (lambda: playlists.update_playlist(session, actor=users["operator"], playlist_id=world["playlist"], items=[
            playlists.ItemSpec(slide_id=999_999, duration_s=10)], now=NOW), "không có trang trình chiếu số 999999"),
        (lambda: captions.write_caption(session, actor=users["operator"], slide_id=world["free_slide"],
                                        language="vi", text="x" * 5000, now=NOW), "chú thích dài 5000 ký tự"),
        (lambda: users_service.create_user(session, actor=None, username="operator", display_name="", role=Role.OPERATOR,
                                           password="long enough password", languages=[], now=NOW),
         "tên đăng nhập 'operator' đã có người dùng"),
    ]
    for attempt, words in attempts:
        with pytest.raises(SignageError) as caught:
            with session.begin_nested():
                attempt()
        assert words in describe(caught.value, "vi"), (words, caught.value.message)


def test_a_playlist_that_shortens_a_slide_below_its_reading_time_is_warned_and_refused(
        browsers: Browsers, api: Any, world: dict[str, int], session: Any, users: Any) -> None:
    """Approved for 10 s, then given 3 s by a playlist: the text (30 words, about 10 s at 3 words/s) is refused
    where the duration is set, and a short item already there is warned beside its row."""
    from signage_server.captions import service as captions
    from signage_server.slides.readability import Rules

    sid, pid = world["free_slide"], world["playlist"]
    text = " ".join(["Quý khách vui lòng xuất trình hộ chiếu"] * 4)  # 32 words
    captions.write_caption(session, actor=users["operator"], slide_id=sid, language="vi", text=text, now=NOW)
    playlists.update_playlist(session, actor=users["operator"], playlist_id=pid, items=[
        playlists.ItemSpec(slide_id=world["slide"], duration_s=10), playlists.ItemSpec(slide_id=sid, duration_s=15)],
        now=NOW)
    session.commit()
    b = browsers["operator"]
    page = b.get(f"/playlists/{pid}").text
    assert "short-item" not in page  # 15 s is enough

    def save(seconds: str) -> str:
        done = b.post(f"/playlists/{pid}", {"slide_id": [str(world["slide"]), str(sid)],
                                            "duration_s": ["10", seconds], "save": "1"})
        assert done.status_code == 303
        return b.follow(done).text

    refused = save("3")
    assert "cần khoảng 11 giây để đọc" in refused and "chữ chỉ hiện 3 giây" in refused, refused[:2000]
    assert [i.duration_s for i in playlists.items_of(session, playlist_id=pid)] == [10, 15]  # nothing written
    api_refused = api.as_("operator").patch(f"/api/v1/playlists/{pid}", json={"items": [
        {"slide_id": world["slide"], "duration_s": 10}, {"slide_id": sid, "duration_s": 3}]})
    assert api_refused.status_code == 422 and "needs about 11 s" in api_refused.json()["error"]["message"]
    assert "Đã lưu" in save("12") or "đã lưu" in save("12").lower()
    # A deployment that only warns saves it and the page marks the row; the refusal rule never blocks an
    # unrelated edit of a playlist that already holds a short item.
    playlists.update_playlist(session, actor=users["operator"], playlist_id=pid, readable=Rules(refuse=False), items=[
        playlists.ItemSpec(slide_id=world["slide"], duration_s=10), playlists.ItemSpec(slide_id=sid, duration_s=3)],
        now=NOW)
    session.commit()
    page = b.get(f"/playlists/{pid}").text
    row = page.split(f'data-slide="{sid}"')[1].split("</tr>")[0]
    assert "short-item" in row and "cần khoảng 11 giây để đọc hết chữ nhưng chữ chỉ hiện 3 giây" in row, row
    kept = save("3")
    assert "cần khoảng 11 giây" in kept and "short-item" in kept
    renamed = b.post(f"/playlists/{pid}", {"slide_id": [str(world["slide"]), str(sid)], "duration_s": ["10", "3"],
                                           "display_name": "Sảnh đến", "save": "1"})
    assert renamed.status_code == 303 and playlists.get_playlist(session, playlist_id=pid).display_name == "Sảnh đến"


def test_a_site_s_viewing_distance_is_its_screens_default_and_a_screen_s_own_wins(
        browsers: Browsers, api: Any, world: dict[str, int], session: Any) -> None:
    sid, screen, site = world["slide"], world["screen"], world["site"]
    admin = browsers["admin"]

    def warned() -> str:
        data = browsers["operator"].get(f"/slides/{sid}/preview.json", params={"vi": "Chào mừng quý khách"}).json()
        return " ".join(next(s for s in data["screens"] if s["id"] == screen)["warnings"])

    assert warned() == ""  # the setting's 10 m
    refused = admin.follow(admin.post(f"/sites/{site}", {"viewing_distance_m": "-5"}))
    assert "khoảng cách xem phải lớn hơn 0" in refused.text
    assert screens.get_site(session, site_id=site).viewing_distance_m is None
    saved = admin.follow(admin.post(f"/sites/{site}", {"viewing_distance_m": "400"}))
    assert "Đã lưu." in saved.text and 'value="400"' in saved.text.split(f'data-site="{site}"')[1].split("</form>")[0]
    assert "không đọc được từ 400 m" in warned()
    page = admin.get(f"/screens/{screen}").text
    assert "kiểm tra ở khoảng cách 400 m: khoảng cách của địa điểm" in page
    # The screen's own distance overrides its site's; emptying the site's goes back to the setting.
    assert api.as_("admin").patch(f"/api/v1/screens/{screen}", json={"viewing_distance_m": 3}).status_code == 200
    assert warned() == "" and "khoảng cách riêng của màn hình này" in admin.get(f"/screens/{screen}").text
    assert api.as_("admin").patch(f"/api/v1/screens/{screen}", json={"viewing_distance_m": None}).status_code == 200
    by_api = api.as_("admin").patch(f"/api/v1/sites/{site}", json={"viewing_distance_m": None})
    assert by_api.status_code == 200 and by_api.json()["viewing_distance_m"] is None
    assert "giá trị mặc định của hệ thống" in admin.get(f"/screens/{screen}").text
    assert api.as_("operator").patch(f"/api/v1/sites/{site}", json={"viewing_distance_m": 50}).status_code == 403


def test_slides_list_has_columns_only_for_languages_in_use(
        browsers: Browsers, world: dict[str, int], session: Any, users: Any) -> None:
    """Lao, Thai and Chinese are configured, but no screen of this world shows them: no "none yet" for them
    on every row. A screen set to show Thai brings the Thai column."""
    from signage_server.screens import service as screens

    b = browsers["operator"]
    row = b.get("/slides").text.split(f'data-slide="{world["slide"]}"')[1].split("</tr>")[0]
    assert "<b>vi</b>" in row and "<b>km</b>" in row
    assert "<b>th</b>" not in row and "<b>lo</b>" not in row and "<b>zh-Hans</b>" not in row
    screens.update_screen(session, actor=users["admin"], screen_id=world["screen"],
                          fields={"languages": ["vi", "th"]}, now=NOW)
    session.commit()
    row = b.get("/slides").text.split(f'data-slide="{world["slide"]}"')[1].split("</tr>")[0]
    assert "<b>th</b>" in row and "<b>lo</b>" not in row
