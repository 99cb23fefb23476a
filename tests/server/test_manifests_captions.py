"""A caption the renderer cannot show on a target screen is refused at submit and at approval (422)."""

from __future__ import annotations

from sqlmodel import Session

from signage_server.captions import service as captions
from signage_server.playlists import service as playlists
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import Api
from tests.server.world import NOW


def test_a_missing_glyph_is_refused_at_submit_naming_screen_and_language(api: Api, world: dict[str, int]) -> None:
    r = api.as_("operator").put(f"/api/v1/slides/{world['slide']}/captions/vi",
                                json={"text": "Chào mừng ꦗꦮ", "submit": True})
    assert r.status_code == 422, r.text
    problems = r.json()["error"]["details"]["problems"]
    assert all(p["screen"] == "hoa-lu-arrivals" and p["language"] == "vi" for p in problems)
    assert {p["code"] for p in problems} == {"missing_glyph"}
    assert any("ꦗ" in p["message"] for p in problems) and any("ꦮ" in p["message"] for p in problems)
    # A draft is not checked yet: translators may save work in progress.
    draft = api.as_("operator").put(f"/api/v1/slides/{world['free_slide']}/captions/vi",
                                    json={"text": "Chào mừng ꦗꦮ"})
    assert draft.status_code == 200, draft.text


def test_text_that_does_not_fit_is_refused(api: Api, world: dict[str, int]) -> None:
    long_text = " ".join(["Welcome to Viet Nam, please keep your passport ready"] * 18)
    r = api.as_("translator").put(f"/api/v1/slides/{world['slide']}/captions/en",
                                  json={"text": long_text, "submit": True})
    assert r.status_code == 422, r.text
    codes = {p["code"] for p in r.json()["error"]["details"]["problems"]}
    assert codes & {"does_not_fit", "too_small"}
    assert all(p["screen"] == "hoa-lu-arrivals" and p["language"] == "en"
               for p in r.json()["error"]["details"]["problems"])


def test_approval_checks_again_when_the_slide_reached_a_screen_after_submission(
        session: Session, world: dict[str, int], users: dict[str, User], api: Api) -> None:
    # Submitted while the slide played only on the Vietnamese ticker (which never draws English), so only
    # later does the English meet the arrivals screen, where it does not fit.
    long_text = " ".join(["Welcome to Viet Nam, please keep your passport ready"] * 18)
    ticker_only = playlists.create_playlist(session, actor=users["operator"], name="ticker-only", items=[
        playlists.ItemSpec(slide_id=world["free_slide"], duration_s=10)], now=NOW)
    screens.update_screen(session, actor=users["admin"], screen_id=world["spare_screen"],
                          fields={"default_playlist_id": ticker_only.id}, now=NOW)
    captions.write_caption(session, actor=users["operator"], slide_id=world["free_slide"], language="vi",
                           text="Chào mừng quý khách đến với Việt Nam", now=NOW)
    captions.write_caption(session, actor=users["translator"], slide_id=world["free_slide"], language="km",
                           text="សូមស្វាគមន៍មកកាន់ប្រទេសវៀតណាម", now=NOW)
    captions.write_caption(session, actor=users["translator"], slide_id=world["free_slide"], language="en",
                           text=long_text, submit=True, now=NOW)
    playlists.update_playlist(session, actor=users["operator"], playlist_id=world["playlist"], items=[
        playlists.ItemSpec(slide_id=world["slide"], duration_s=10),
        playlists.ItemSpec(slide_id=world["free_slide"], duration_s=10)], now=NOW)
    session.commit()
    r = api.as_("translator_en").post(f"/api/v1/slides/{world['free_slide']}/captions/en/approve")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["problems"][0]["screen"] == "hoa-lu-arrivals"
    states = {c.language: c.state for c in slides.captions_of(session, slide_id=world["free_slide"])}
    assert states["en"] == "submitted"


def test_a_showable_caption_passes(api: Api, world: dict[str, int]) -> None:
    r = api.as_("translator").put(f"/api/v1/slides/{world['pending_slide']}/captions/km",
                                  json={"text": "សូមគោរពច្បាប់", "submit": True})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "submitted"
