"""Caption revisions: what is on air stays on air until its replacement is approved, in every language.

Issue 12: a draft never takes a slide off a screen; a new Vietnamese outdates and requeues its
translations; screens keep the previous consistent set until the new one is complete; stale writes get
412 (API) or a conflict page keeping both texts; the preview's verdict is submit's verdict.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from signage_core.text import NBSP, ZWSP
from signage_server.assets.store import AssetStore
from signage_server.captions import service as captions
from signage_server.content.service import import_content
from signage_server.db import make_engine, upgrade_to_head
from signage_server.errors import PreconditionFailed
from signage_server.manifests import service as manifests
from signage_server.screens import service as screens
from signage_server.screens.models import Screen
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import TEST_SECRET, Api, Clock
from tests.server.test_manifests import KEY, verified
from tests.server.test_webui import Browsers
from tests.server.world import NOW, seed_world

OLD_VI = "Chào mừng quý khách đến với Việt Nam"
NEW_VI = "Chào mừng quý khách đến cửa khẩu Hoa Lư"
NEW_EN = "Welcome to Hoa Lu border gate"
NEW_KM = "សូមស្វាគមន៍មកកាន់ច្រកព្រំដែនហ័រលឺ"
CORPUS = Path("/work/shared/corpus/captions.json")
SHIPPED = Path(__file__).resolve().parents[2] / "playlists"


def put(api: Api, who: str, slide: int, lang: str, text: str, *, submit: bool = False,
        etag: str | None = None) -> Any:
    headers = {"If-Match": etag} if etag else {}
    return api.as_(who).put(f"/api/v1/slides/{slide}/captions/{lang}", json={"text": text, "submit": submit},
                            headers=headers)


def approve(api: Api, who: str, slide: int, lang: str, **body: Any) -> Any:
    r = api.as_(who).post(f"/api/v1/slides/{slide}/captions/{lang}/approve", json=body or None)
    assert r.status_code == 200, r.text
    return r.json()


def on_screen(session: Session, screen_id: int, slide_id: int, clock: Clock) -> dict[str, str] | None:
    """The captions the screen's signed manifest carries for the slide, without the break marks the
    compiler adds (Khmer hints, Vietnamese word joins)."""
    clock.advance(minutes=1)
    result = manifests.compile_screen(session, screen_id=screen_id, key=KEY, now=clock.now)
    assert result.error is None and result.record is not None
    body = verified(result.record, clock)
    slide = body["slides"].get(str(slide_id))  # type: ignore[attr-defined]
    if slide is None:
        return None
    return {lang: text.replace(ZWSP, "").replace(NBSP, " ") for lang, text in slide["captions"].items()}


@pytest.fixture
def live(world: dict[str, int], users: dict[str, User], session: Session) -> int:
    """The world's welcome slide, every caption approved and the slide approved: on air."""
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    return world["slide"]


def test_a_draft_or_submitted_edit_of_a_live_caption_keeps_the_slide_on_every_screen(
        api: Api, world: dict[str, int], live: int, users: dict[str, User], session: Session,
        clock: Clock) -> None:
    screens.update_screen(session, actor=users["admin"], screen_id=world["spare_screen"],  # a 2nd, vi-only screen
                          fields={"default_playlist_id": world["playlist"]}, now=NOW)
    session.commit()
    both = (world["screen"], world["spare_screen"])

    def everywhere() -> list[dict[str, str] | None]:
        return [on_screen(session, screen, live, clock) for screen in both]

    before = everywhere()
    assert before[0] is not None and before[0]["vi"] == OLD_VI and before[1] == {"vi": OLD_VI}
    draft = put(api, "operator", live, "vi", OLD_VI + " (sửa)")
    assert draft.status_code == 200 and draft.json()["state"] == "draft"
    assert draft.json()["live_text"] == OLD_VI
    view = api.as_("operator").get(f"/api/v1/slides/{live}").json()
    assert view["publishable"] is True and view["approved_at"] is not None
    assert everywhere() == before
    put(api, "operator", live, "vi", OLD_VI + " (sửa)", submit=True)
    put(api, "translator", live, "en", "Welcome (draft)")
    assert everywhere() == before
    # Returning the submitted text leaves the live one as it is, too.
    r = api.as_("approver").post(f"/api/v1/slides/{live}/captions/vi/return", json={"reason": "Sai chính tả"})
    assert r.json()["state"] == "returned" and r.json()["live_text"] == OLD_VI
    assert everywhere() == before


def test_new_vietnamese_outdates_and_requeues_translations_and_the_old_set_stays_until_the_new_is_complete(
        api: Api, world: dict[str, int], live: int, session: Session, clock: Clock, app: Any) -> None:
    old = on_screen(session, world["screen"], live, clock)
    assert old is not None
    put(api, "operator", live, "vi", NEW_VI, submit=True)
    # A submitted new Vietnamese outdates nothing yet: it is not approved.
    assert api.as_("translator").get(f"/api/v1/slides/{live}/captions/en").json()["outdated"] is False
    approve(api, "approver", live, "vi")
    for lang in ("en", "km"):
        shape = api.as_("translator").get(f"/api/v1/slides/{live}/captions/{lang}").json()
        assert shape["outdated"] is True and shape["state"] == "approved"
    view = api.as_("operator").get(f"/api/v1/slides/{live}").json()
    assert view["outdated_languages"] == ["en", "km"] and view["publishable"] is True
    # The screen keeps the previous consistent set: old Vietnamese with the English and Khmer that say the same.
    assert on_screen(session, world["screen"], live, clock) == old
    # Back in the translators' queue, with the change from the old to the new Vietnamese.
    tr = Browsers(app)["translator"]
    assert f'href="/translate/{live}"' in tr.get("/translate").text
    page = tr.get(f"/translate/{live}").text
    assert 'data-outdated="1"' in page and "cần dịch lại" in page
    diff = re.search(r'<p class="diff" lang="vi" data-diff="en">(.*?)</p>', page, re.S)
    assert diff is not None and "<del>" in diff.group(1) and "<ins>" in diff.group(1)
    assert "Hoa Lư" in re.sub(r"<del>.*?</del>", "", diff.group(1))
    # An outdated translation cannot be approved as it is.
    r = api.as_("translator_en").post(f"/api/v1/slides/{live}/captions/en/approve")
    assert r.status_code == 200 and r.json()["live_text"] == "Welcome to Viet Nam"  # nothing pending: unchanged
    # English of the new text approved, Khmer not yet: still the old set on the screen.
    put(api, "translator", live, "en", NEW_EN, submit=True)
    assert api.as_("translator").get(f"/api/v1/slides/{live}/captions/en").json()["outdated"] is False
    approve(api, "translator_en", live, "en")
    assert on_screen(session, world["screen"], live, clock) == old
    # The Khmer translator confirms the same Khmer fits the new text: re-submitted against the new source.
    put(api, "translator", live, "km", NEW_KM, submit=True)
    approve(api, "approver", live, "km")
    assert on_screen(session, world["screen"], live, clock) == {"vi": NEW_VI, "en": NEW_EN, "km": NEW_KM}
    view = api.as_("operator").get(f"/api/v1/slides/{live}").json()
    assert view["outdated_languages"] == [] and all(not c["outdated"] for c in view["captions"])
    assert "translate/" + str(live) not in tr.get("/translate").text


def test_urgent_vietnamese_goes_to_vietnamese_only_screens_alone(
        api: Api, world: dict[str, int], live: int, users: dict[str, User], session: Session,
        clock: Clock) -> None:
    screens.update_screen(session, actor=users["admin"], screen_id=world["spare_screen"],
                          fields={"default_playlist_id": world["playlist"]}, now=NOW)
    session.commit()
    put(api, "operator", live, "vi", NEW_VI, submit=True)
    r = api.as_("translator_en").post(f"/api/v1/slides/{live}/captions/en/approve", json={"urgent": True})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "urgent"  # Vietnamese only
    approve(api, "approver", live, "vi", urgent=True)
    assert on_screen(session, world["spare_screen"], live, clock) == {"vi": NEW_VI}
    arrivals = on_screen(session, world["screen"], live, clock)
    assert arrivals is not None and arrivals["vi"] == OLD_VI and arrivals["en"] == "Welcome to Viet Nam"


def test_without_urgency_a_vietnamese_only_screen_also_keeps_the_consistent_set(
        api: Api, world: dict[str, int], live: int, users: dict[str, User], session: Session,
        clock: Clock) -> None:
    screens.update_screen(session, actor=users["admin"], screen_id=world["spare_screen"],
                          fields={"default_playlist_id": world["playlist"]}, now=NOW)
    session.commit()
    put(api, "operator", live, "vi", NEW_VI, submit=True)
    approve(api, "approver", live, "vi")
    assert on_screen(session, world["spare_screen"], live, clock) == {"vi": OLD_VI}


def test_stale_if_match_gets_412_with_the_current_text(api: Api, world: dict[str, int], live: int) -> None:
    got = api.as_("operator").get(f"/api/v1/slides/{live}/captions/vi")
    assert got.headers["ETag"] == got.json()["etag"]
    first = put(api, "operator", live, "vi", "Bản của tab thứ nhất", etag=got.headers["ETag"])
    assert first.status_code == 200 and first.headers["ETag"] != got.headers["ETag"]
    stale = put(api, "operator2", live, "vi", "Bản của tab thứ hai", etag=got.headers["ETag"])
    assert stale.status_code == 412, stale.text
    err = stale.json()["error"]
    assert err["code"] == "precondition_failed" and err["details"]["current_text"] == "Bản của tab thứ nhất"
    assert err["details"]["etag"] == first.headers["ETag"]
    assert api.as_("operator").get(f"/api/v1/slides/{live}/captions/vi").json()["text"] == "Bản của tab thứ nhất"
    again = put(api, "operator2", live, "vi", "Bản của tab thứ hai", etag=err["details"]["etag"])
    assert again.status_code == 200 and again.json()["text"] == "Bản của tab thứ hai"


def test_the_page_shows_a_conflict_and_keeps_both_texts(app: Any, world: dict[str, int], live: int) -> None:
    b = Browsers(app)
    one, two = b["operator"], b["operator2"]
    page = one.get(f"/slides/{live}").text
    revision = re.search(r'name="revision" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    assert revision
    saved = two.post(f"/slides/{live}/caption", {"text": "Văn bản của người thứ hai", "action": "save",
                                                 "revision": revision})
    assert saved.status_code == 303
    mine = "Văn bản của tôi <b>không mất</b>"
    conflict = one.post(f"/slides/{live}/caption", {"text": mine, "action": "save", "revision": revision})
    assert conflict.status_code == 412
    html = conflict.text
    assert "Người khác đã sửa chú thích này" in html
    assert "Văn bản của người thứ hai" in re.search(r'<div class="conflict".*?</div>', html, re.S).group(0)  # type: ignore[union-attr]
    field = re.search(r'<textarea id="text-vi"[^>]*>(.*?)</textarea>', html, re.S).group(1)  # type: ignore[union-attr]
    assert field == "Văn bản của tôi &lt;b&gt;không mất&lt;/b&gt;"
    # Saving from the conflict page is a deliberate choice: it carries the other person's revision now.
    newer = re.search(r'name="revision" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
    assert newer != revision
    assert one.post(f"/slides/{live}/caption", {"text": mine, "action": "save", "revision": newer}).status_code == 303


def test_a_refused_submit_keeps_the_typed_text_with_the_reason_in_vietnamese(
        app: Any, world: dict[str, int]) -> None:
    tr = Browsers(app)["translator"]
    sid = world["pending_slide"]
    bad = "Welcome ꦗꦮ to Viet Nam"
    refused = tr.post(f"/translate/{sid}/en", {"text": bad, "action": "submit"})
    assert refused.status_code == 422
    field = re.search(r'<textarea id="text-en"[^>]*>(.*?)</textarea>', refused.text, re.S).group(1)  # type: ignore[union-attr]
    assert field == bad
    alert = re.search(r'data-refusal="en">(.*?)</p>', refused.text, re.S).group(1)  # type: ignore[union-attr]
    assert "không hiển thị được" in alert and "ꦗ" in alert and "U+A997" in alert


def test_preview_fits_exactly_when_submit_accepts_for_the_corpus_on_every_demo_screen(
        api: Api, app: Any, session: Session, tmp_path: Path, db_kind: str) -> None:
    """Every corpus caption, in each language, on each screen of the demo content: the live preview's verdict
    (preview.json, as the page shows it) is the verdict of submit."""
    if db_kind == "postgres":
        pytest.skip("the renderer's verdict does not depend on the database: runs once, in the SQLite pass")
    import_content(session, directory=SHIPPED, store=AssetStore(tmp_path / "assets"), max_upload_bytes=10**7,
                   max_image_pixels=10**7, now=NOW)
    session.commit()
    demo = {s.name for s in session.exec(select(Screen)).all()}
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))["captions"]
    created = api.as_("operator").post("/api/v1/slides", json={"name": "corpus-probe"}).json()
    sid = created["id"]  # in no playlist: previewed and validated on every screen, the demo ones included
    pages = Browsers(app)
    seen_refusal = seen_accept = False
    for entry in corpus:
        for lang in ("vi", "en", "km"):
            who = "operator" if lang == "vi" else "translator"
            text = entry[lang] if lang != "vi" else entry["vi_nfd"]  # NFD typed: the same verdict as NFC
            for probe in (text, text + " " + text * 6):  # as written, and far too long for the smaller screens
                preview = pages[who].get(f"/slides/{sid}/preview.json", params={lang: probe})
                screens_seen = {s["name"] for s in preview.json()["screens"]}
                assert demo <= screens_seen
                fits = not any(p["language"] == lang for s in preview.json()["screens"] for p in s["problems"])
                r = put(api, who, sid, lang, probe, submit=True)
                assert (r.status_code == 200) == fits, (entry["id"], lang, len(probe), r.text)
                if r.status_code == 200:
                    seen_accept = True
                else:
                    seen_refusal = True
                    listed = {p["screen"] for p in r.json()["error"]["details"]["problems"]}
                    said = {s["name"] for s in preview.json()["screens"]
                            if any(p["language"] == lang for p in s["problems"])}
                    assert listed == said
    assert seen_accept and seen_refusal  # both verdicts were exercised


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_writers_with_the_same_revision_cannot_both_win(kind: str, fresh_database: Any,
                                                            password_hash: str) -> None:
    """The version check and the write are one step: the second writer waits for the first and gets 412."""
    engine = make_engine(fresh_database(kind))
    upgrade_to_head(engine)
    _tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET, now=NOW)
    with Session(engine) as s:
        etag = captions.find_caption(s, slide_id=ids["slide"], language="vi").etag  # type: ignore[union-attr]
    first_wrote, let_first_commit = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def write(name: str, text: str, hold: bool) -> None:
        try:
            with Session(engine) as s:
                who = s.exec(select(User).where(User.username == name)).one()
                captions.write_caption(s, actor=who, slide_id=ids["slide"], language="vi", text=text, now=NOW,
                                       if_match=etag)
                if hold:
                    first_wrote.set()
                    let_first_commit.wait(10)
                s.commit()
            outcome[name] = "saved"
        except PreconditionFailed as exc:
            outcome[name] = exc.details["current_text"]

    first = threading.Thread(target=write, args=("operator", "Bản thứ nhất", True))
    first.start()
    assert first_wrote.wait(10)
    second = threading.Thread(target=write, args=("operator2", "Bản thứ hai", False))
    second.start()
    time.sleep(0.5)  # the second writer is now waiting for the first
    let_first_commit.set()
    first.join(15)
    second.join(15)
    engine.dispose()
    assert outcome == {"operator": "saved", "operator2": "Bản thứ nhất"}


def test_approving_the_slide_leaves_a_translation_of_the_old_vietnamese_to_its_translator(
        api: Api, app: Any, world: dict[str, int], live: int) -> None:
    put(api, "translator", live, "en", "Welcome, travellers", submit=True)  # a translation of the old text
    put(api, "operator", live, "vi", NEW_VI, submit=True)
    approve(api, "approver", live, "vi")
    ap = Browsers(app)["approver"]
    page = ap.get(f"/approve/{live}").text
    assert 'data-outdated="1"' in page
    done = ap.post(f"/approve/{live}")
    assert done.status_code == 303 and done.headers["location"].endswith("/rollout")
    en = api.as_("translator").get(f"/api/v1/slides/{live}/captions/en").json()
    assert en["state"] == "submitted" and en["outdated"] is True and en["live_text"] == "Welcome to Viet Nam"
