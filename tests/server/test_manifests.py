"""The manifest compiler: only publishable content, signed, versioned, recompiled on change, kept as history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from signage_core.manifest import verify_manifest
from signage_core.signing import Rejection, SigningKey, TrustStore, VerificationError
from signage_core.text import ZWSP
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.errors import Invalid
from signage_server.manifests import compiler
from signage_server.manifests import service as manifests
from signage_server.manifests.events import Recompiler
from signage_server.manifests.models import ManifestRecord
from signage_server.playlists import service as playlists
from signage_server.schedules import service as schedules
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import Api, Clock
from tests.server.world import NOW, png

KEY = SigningKey.generate()


def compile_one(session: Session, screen_id: int, clock: Clock) -> manifests.CompileResult:
    return manifests.compile_screen(session, screen_id=screen_id, key=KEY, now=clock.now)


def verified(record: ManifestRecord, clock: Clock, key: SigningKey = KEY) -> dict[str, object]:
    """Read the compiled JSON as a player would: verify the signature, then look at the body."""
    body = verify_manifest(record.envelope, trust=TrustStore.of(key.public_key), screen_id=str(record.screen_id),
                           last_version=None, now=clock.now)
    return body.model_dump(mode="json")


def test_only_publishable_content_enters_and_the_rest_is_reported(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock) -> None:
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    result = compile_one(session, world["screen"], clock)
    assert result.new_version and result.error is None and result.record is not None
    body = verified(result.record, clock)
    assert set(body["slides"]) == {str(world["slide"])}  # type: ignore[arg-type]
    assert [i["slide_id"] for i in body["playlists"][str(world["playlist"])]["items"]] == [  # type: ignore[index]
        str(world["slide"])]
    reasons = {(e.kind, e.id): e.reason for e in result.excluded}
    assert "no approved caption for vi" in reasons[("slide", str(world["pending_slide"]))]
    assert result.record.excluded  # stored with the version, never silent
    # Khmer carries ICU break hints for players without ICU; the approved text itself is unchanged.
    khmer = body["slides"][str(world["slide"])]["captions"]["km"]  # type: ignore[index]
    assert ZWSP in khmer
    stored = session.exec(select(CaptionRevision).where(CaptionRevision.slide_id == world["slide"], CaptionRevision.language == "km")).one()
    assert ZWSP not in stored.text and khmer.replace(ZWSP, "") == stored.text
    # Vietnamese carries word joins (U+00A0), derived the same way: "quý khách" is never split.
    vietnamese = body["slides"][str(world["slide"])]["captions"]["vi"]  # type: ignore[index]
    assert "quý\u00a0khách" in vietnamese and vietnamese.replace("\u00a0", " ") == "Chào mừng quý khách đến với Việt Nam"


def test_a_slide_not_approved_as_a_whole_never_enters(
        session: Session, world: dict[str, int], clock: Clock) -> None:
    result = compile_one(session, world["screen"], clock)
    assert result.record is None and not result.new_version
    assert "no publishable slide" in (result.error or "")
    assert ("slide", str(world["slide"]), "slide not approved as a whole") in {
        (e.kind, e.id, e.reason) for e in result.excluded}


def test_one_submitted_language_keeps_a_slide_out_even_if_marked_approved(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock) -> None:
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    other = slides.create_slide(session, actor=users["operator"], name="customs", now=NOW)
    for lang, text, writer in (("vi", "Khai báo hải quan", users["operator"]), ("en", "Customs declaration",
                                                                                 users["translator"]),
                               ("km", "ប្រកាសគយ", users["translator"])):
        captions.write_caption(session, actor=writer, slide_id=other.id, language=lang, text=text, submit=True,
                               now=NOW)
    captions.approve_caption(session, actor=users["approver"], slide_id=other.id, language="vi", now=NOW)
    captions.approve_caption(session, actor=users["translator_en"], slide_id=other.id, language="en", now=NOW)
    # The Khmer caption stays submitted; the row claims slide approval anyway (the compiler must not trust it).
    other.approved_at = NOW
    session.add(other)
    playlists.update_playlist(session, actor=users["operator"], playlist_id=world["playlist"], items=[
        playlists.ItemSpec(slide_id=world["slide"], duration_s=10), playlists.ItemSpec(slide_id=other.id,
                                                                                       duration_s=10)], now=NOW)
    result = compile_one(session, world["screen"], clock)
    assert result.record is not None
    body = verified(result.record, clock)
    assert str(other.id) not in body["slides"]  # type: ignore[operator]
    assert ("slide", str(other.id), "no approved caption for km") in {(e.kind, e.id, e.reason) for e in result.excluded}


def test_versions_grow_only_when_content_changes_and_assets_are_listed(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock, settings: object) -> None:
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    first = compile_one(session, world["screen"], clock)
    assert first.record is not None and first.record.version == 1
    again = compile_one(session, world["screen"], clock)
    assert not again.new_version and again.record is not None and again.record.version == 1
    assert manifests.manifest_assets(session, screen_id=world["screen"]) == frozenset()
    from signage_server.app import create_app  # noqa: F401  (the store path comes from settings)
    from signage_server.assets.store import AssetStore

    store = AssetStore(settings.assets_dir)  # type: ignore[attr-defined]
    slide = slides.set_slide_image(session, actor=users["operator"], slide_id=world["slide"], store=store,
                                   data=png(), max_bytes=10**6, max_pixels=10**6, now=NOW)
    assert slide.approved_at is None  # a new image withdraws approval: the slide leaves, nothing else is left
    assert compile_one(session, world["screen"], clock).error
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    second = compile_one(session, world["screen"], clock)
    assert second.new_version and second.record is not None and second.record.version == 2
    sha = verified(second.record, clock)["slides"][str(world["slide"])]["image"]  # type: ignore[index]
    assert manifests.manifest_assets(session, screen_id=world["screen"]) == frozenset({sha})
    stored = manifests.latest_manifest(session, screen_id=world["screen"])
    assert stored is not None  # what was written is what was signed and returned, byte for byte
    assert (stored.version, stored.content_hash, stored.envelope_json) == (
        second.record.version, second.record.content_hash, second.record.envelope_json)


def test_history_answers_what_a_screen_was_supposed_to_show_at_a_time(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock, api: Api) -> None:
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    first = compile_one(session, world["screen"], clock)
    issued_first = clock.now
    clock.advance(hours=2)
    other = slides.create_slide(session, actor=users["operator"], name="night", now=NOW)
    for lang, text, writer in (("vi", "Cửa khẩu đóng cửa lúc 22 giờ", users["operator"]),
                               ("en", "The border gate closes at 22:00", users["translator"]),
                               ("km", "ច្រកព្រំដែនបិទនៅម៉ោង ២២", users["translator"])):
        captions.write_caption(session, actor=writer, slide_id=other.id, language=lang, text=text, submit=True, now=NOW)
        captions.approve_caption(session, actor=users["approver"] if lang != "en" else users["translator_en"],
                                 slide_id=other.id, language=lang, now=NOW)
    slides.approve_slide(session, actor=users["approver2"], slide_id=other.id, now=NOW)
    night = playlists.create_playlist(session, actor=users["operator"], name="night",
                                      items=[playlists.ItemSpec(slide_id=other.id, duration_s=20)], now=NOW)
    screens.update_screen(session, actor=users["admin"], screen_id=world["screen"],
                          fields={"default_playlist_id": night.id}, now=NOW)
    second = compile_one(session, world["screen"], clock)
    assert first.record and second.record and second.record.version == first.record.version + 1
    session.commit()

    before = manifests.expected_at(session, screen_id=world["screen"], at=issued_first + timedelta(minutes=30))
    after = manifests.expected_at(session, screen_id=world["screen"], at=clock.now + timedelta(minutes=1))
    assert before is not None and before.record.version == 1 and before.playing.slide.id == str(world["slide"])
    assert after is not None and after.record.version == 2 and after.playing.slide.id == str(other.id)
    assert manifests.expected_at(session, screen_id=world["screen"], at=issued_first - timedelta(days=1)) is None

    client = api.as_("translator")
    r = client.get(f"/api/v1/screens/{world['screen']}/manifests/at",
                   params={"time": (issued_first + timedelta(minutes=30)).isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["slide_id"] == str(world["slide"])
    # As the screen got it: with the word joins (U+00A0) the compiler adds.
    assert r.json()["captions"]["vi"] == "Chào\u00a0mừng quý\u00a0khách đến với Việt\u00a0Nam"
    history = client.get(f"/api/v1/screens/{world['screen']}/manifests").json()
    assert [m["version"] for m in history["items"]] == [2, 1]
    detail = client.get(f"/api/v1/screens/{world['screen']}/manifests/1").json()
    assert detail["envelope"]["signature"] and detail["content_hash"] == first.record.content_hash
    assert client.get(f"/api/v1/screens/{world['screen']}/manifests/9").status_code == 404
    naive = client.get(f"/api/v1/screens/{world['screen']}/manifests/at", params={"time": "2026-03-01T08:00:00"})
    assert naive.status_code == 422 and "offset" in naive.json()["error"]["message"]


@pytest.fixture
def heard(app: object) -> Iterator[list[list[str]]]:
    """Every notice the app's ManifestEvents sends (after commit), in order."""
    calls: list[list[str]] = []
    unsubscribe = app.state.manifest_events.subscribe(calls.append)  # type: ignore[attr-defined]
    yield calls
    unsubscribe()


def versions(session: Session) -> dict[int, int]:
    session.expire_all()
    out: dict[int, int] = {}
    for record in session.exec(select(ManifestRecord)).all():
        out[record.screen_id] = max(out.get(record.screen_id, 0), record.version)
    return out


def test_approving_a_caption_issues_one_version_for_exactly_the_screens_that_show_it(
        session: Session, world: dict[str, int], users: dict[str, User], api: Api, heard: list[list[str]],
        app: object) -> None:
    recompiler: Recompiler = app.state.manifest_recompiler  # type: ignore[attr-defined]
    recompiler.install(session)
    op, tr = users["operator"], users["translator"]
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    # A Vietnamese/English screen with its own content, and a third screen that never shows the notice.
    notice = slides.create_slide(session, actor=op, name="notice", now=NOW)
    for lang, text, writer in (("vi", "Xuất trình hộ chiếu", op), ("en", "Show your passport", tr)):
        captions.write_caption(session, actor=writer, slide_id=notice.id, language=lang, text=text, submit=True,
                               now=NOW)
        captions.approve_caption(session, actor=users["approver"] if lang == "vi" else users["translator_en"],
                                 slide_id=notice.id, language=lang, now=NOW)
    slides.approve_slide(session, actor=users["approver2"], slide_id=notice.id, now=NOW)
    plist = playlists.create_playlist(session, actor=op, name="passports",
                                      items=[playlists.ItemSpec(slide_id=notice.id, duration_s=10)], now=NOW)
    fields = {"site_id": world["site"], "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
              "languages": ["vi", "en"], "default_playlist_id": plist.id}
    lane = screens.create_screen(session, actor=users["admin"], fields={**fields, "name": "lane-1"}, now=NOW)
    bystander = screens.create_screen(session, actor=users["admin"], fields={
        **fields, "name": "bystander", "default_playlist_id": world["playlist"]}, now=NOW)
    # The notice is now also scheduled on the trilingual screen, so it needs Khmer before it shows anywhere.
    schedules.create_schedule(session, actor=op, fields={"name": "passports", "playlist_id": plist.id,
                                                         "priority": 5, "rule": {}},
                              screen_ids=[world["screen"]], now=NOW)
    captions.write_caption(session, actor=tr, slide_id=notice.id, language="km", text="បង្ហាញលិខិតឆ្លងដែន",
                           submit=True, now=NOW)
    session.commit()
    before = versions(session)
    assert before[world["screen"]] >= 1 and before[bystander.id] >= 1 and lane.id not in before  # nothing to show
    heard.clear()

    r = api.as_("approver").post(f"/api/v1/slides/{notice.id}/captions/km/approve")
    assert r.status_code == 200, r.text
    after = versions(session)
    assert heard == [sorted([str(world["screen"]), str(lane.id)], key=int)]
    assert after[world["screen"]] == before[world["screen"]] + 1
    assert after[lane.id] == 1
    assert after[bystander.id] == before[bystander.id]
    assert world["spare_screen"] not in after

    # An edit that changes nothing produces no version and no notice.
    heard.clear()
    r = api.as_("operator").patch(f"/api/v1/playlists/{plist.id}", json={"description": "passport reminders"})
    assert r.status_code == 200, r.text
    r = api.as_("operator").patch(f"/api/v1/schedules/{world['schedule']}", json={"priority": 1})
    assert r.status_code == 200, r.text
    r = api.as_("operator").post(f"/api/v1/screens/{lane.id}/manifests/compile")
    assert r.status_code == 200 and r.json()["new_version"] is False and r.json()["version"] == 1
    assert versions(session) == after and heard == []


def test_a_schedule_edit_recompiles_the_screens_it_reaches_and_those_it_left(
        session: Session, world: dict[str, int], users: dict[str, User], api: Api, heard: list[list[str]],
        app: object) -> None:
    app.state.manifest_recompiler.install(session)  # type: ignore[attr-defined]
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    before = versions(session)
    heard.clear()
    r = api.as_("operator").patch(f"/api/v1/schedules/{world['schedule']}",
                                  json={"rule": {"windows": [{"start": "22:00", "end": "02:00"}]}})
    assert r.status_code == 200, r.text
    assert heard == [[str(world["screen"])]]
    assert versions(session)[world["screen"]] == before[world["screen"]] + 1
    record = manifests.latest_manifest(session, screen_id=world["screen"])
    assert record is not None
    body = json.loads(record.envelope)["body"]
    # The overnight window shows up in the signed timeline: 22:00 local is 15:00 UTC.
    assert any(seg["start"].endswith("T15:00:00Z") and not seg["is_default"] for seg in body["timeline"])


def test_compile_requires_an_operator(api: Api, world: dict[str, int]) -> None:
    assert api.as_("translator").post(f"/api/v1/screens/{world['screen']}/manifests/compile").status_code == 403
    r = api.as_("admin").post(f"/api/v1/screens/{world['spare_screen']}/manifests/compile")
    assert r.status_code == 200 and r.json()["error"] == "screen has no default playlist"
    key = api.as_("translator").get("/api/v1/manifests/signing-key").json()
    assert key["fingerprint"].startswith("SHA256:") and len(key["key_id"]) == 16


def test_caption_states_are_what_the_world_says(session: Session, world: dict[str, int]) -> None:
    """Guards the fixtures these tests rely on: the pending slide's caption is still only submitted."""
    states = {c.language: c.state for c in slides.captions_of(session, slide_id=world["pending_slide"])}
    assert states == {"vi": CaptionState.SUBMITTED}


def test_a_screen_edit_that_raises_a_slides_languages_recompiles_the_other_screens_showing_it(
        session: Session, world: dict[str, int], users: dict[str, User], api: Api, heard: list[list[str]],
        app: object) -> None:
    app.state.manifest_recompiler.install(session)  # type: ignore[attr-defined]
    op = users["operator"]
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    notice = slides.create_slide(session, actor=op, name="notice", now=NOW)
    for lang, text, writer in (("vi", "Xuất trình hộ chiếu", op), ("en", "Show your passport", users["translator"])):
        captions.write_caption(session, actor=writer, slide_id=notice.id, language=lang, text=text, submit=True,
                               now=NOW)
        captions.approve_caption(session, actor=users["approver"] if lang == "vi" else users["translator_en"],
                                 slide_id=notice.id, language=lang, now=NOW)
    slides.approve_slide(session, actor=users["approver2"], slide_id=notice.id, now=NOW)
    plist = playlists.create_playlist(session, actor=op, name="lanes", items=[
        playlists.ItemSpec(slide_id=notice.id, duration_s=10), playlists.ItemSpec(slide_id=world["slide"],
                                                                                  duration_s=10)], now=NOW)
    lane = screens.create_screen(session, actor=users["admin"], fields={
        "site_id": world["site"], "name": "lane-2", "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
        "languages": ["vi", "en"], "default_playlist_id": plist.id}, now=NOW)
    session.commit()
    first = manifests.latest_manifest(session, screen_id=lane.id)
    assert first is not None and str(notice.id) in json.loads(first.envelope)["body"]["slides"]
    heard.clear()

    # The trilingual screen now also shows the notice, which has no Khmer caption: it leaves lane-2 too.
    r = api.as_("admin").patch(f"/api/v1/screens/{world['screen']}", json={"default_playlist_id": plist.id})
    assert r.status_code == 200, r.text
    session.expire_all()
    latest = manifests.latest_manifest(session, screen_id=lane.id)
    assert latest is not None and latest.version == first.version + 1
    assert set(json.loads(latest.envelope)["body"]["slides"]) == {str(world["slide"])}
    assert {"kind": "slide", "id": str(notice.id), "reason": "no approved caption for km"} in latest.excluded
    assert heard and str(lane.id) in heard[0]


def test_the_compilers_batched_publish_rule_agrees_with_publish_status(
        session: Session, world: dict[str, int], users: dict[str, User]) -> None:
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    captions.approve_caption(session, actor=users["approver"], slide_id=world["pending_slide"], language="vi", now=NOW)
    cache = compiler.CompileCache()
    for key in ("slide", "pending_slide", "draft_slide", "free_slide"):
        status = slides.publish_status(session, slide=slides.get_slide(session, slide_id=world[key]))
        publishable, reason, _approved = compiler._slide_status(session, world[key], cache)
        assert publishable == status.publishable, key
        if status.missing_languages:
            assert reason == "no approved caption for " + ", ".join(status.missing_languages)


def test_a_failing_compile_does_not_undo_the_approval_that_triggered_it(
        session: Session, world: dict[str, int], users: dict[str, User], api: Api, app: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("compiler bug")

    monkeypatch.setattr(compiler, "compile_screen", broken)
    r = api.as_("approver2").post(f"/api/v1/slides/{world['slide']}/approve")
    assert r.status_code == 200, r.text
    session.expire_all()
    assert slides.get_slide(session, slide_id=world["slide"]).approved_at is not None
    assert manifests.latest_manifest(session, screen_id=world["screen"]) is None


def test_screens_sharing_a_group_share_content_but_each_manifest_is_its_own(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock) -> None:
    """The compiler encodes one body per (rule set, layout); every screen still gets exactly its own manifest."""
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    group = screens.create_group(session, actor=users["admin"], name="hoa-lu-lanes", now=NOW)
    fields = {"site_id": world["site"], "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
              "languages": ["vi", "en", "km"], "default_playlist_id": world["playlist"], "group_ids": [group.id]}
    lanes = [screens.create_screen(session, actor=users["admin"], fields={**fields, "name": f"lane-{n}"}, now=NOW)
             for n in range(3)]
    bilingual = screens.create_screen(session, actor=users["admin"], fields={
        **fields, "name": "lane-vi-en", "languages": ["vi", "en"]}, now=NOW)
    schedules.create_schedule(session, actor=users["operator"], fields={
        "name": "evenings", "playlist_id": world["playlist"], "priority": 3,
        "rule": {"windows": [{"start": "18:00", "end": "22:00"}]}}, group_ids=[group.id], now=NOW)
    ids = [s.id for s in [*lanes, bilingual]]
    results = {r.screen_id: r for r in manifests.compile_screens(session, screen_ids=ids, key=KEY, now=clock.now)}
    bodies = {}
    for sid in ids:
        record = results[sid].record
        assert results[sid].new_version and record is not None
        bodies[sid] = verified(record, clock)  # verifies for its own screen id only
        assert bodies[sid]["screen_id"] == str(sid)
        for other in ids:
            if other != sid:
                with pytest.raises(VerificationError) as refused:
                    verify_manifest(record.envelope, trust=TrustStore.of(KEY.public_key), screen_id=str(other),
                                    last_version=None, now=clock.now)
                assert refused.value.reason is Rejection.WRONG_SCREEN
    shared = {k: v for k, v in bodies[lanes[0].id].items() if k not in ("screen_id", "content_hash")}
    for lane in lanes[1:]:
        assert {k: v for k, v in bodies[lane.id].items() if k not in ("screen_id", "content_hash")} == shared
    captions_of = bodies[bilingual.id]["slides"][str(world["slide"])]["captions"]  # type: ignore[index]
    assert set(captions_of) == {"vi", "en"}  # its own layout: no Khmer carried
    assert bodies[bilingual.id]["timeline"] == shared["timeline"]
    # Compiled alone, with nothing shared, each screen's content is the same: no new version.
    for sid in ids:
        alone = manifests.compile_screen(session, screen_id=sid, key=KEY, now=clock.now)
        assert not alone.new_version and alone.record is not None and alone.record.version == 1


def test_a_stored_rule_that_no_longer_validates_is_left_out_by_name_and_the_rest_still_plays(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock) -> None:
    """A row damaged behind the API's back (a hand edit, an old backup) must not stop the screen's manifest."""
    from signage_server.schedules.models import Schedule

    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    row = session.get_one(Schedule, world["schedule"])
    row.rule = {"windows": [{"start": "25:00", "end": "02:00"}]}
    session.add(row)
    session.flush()
    result = manifests.compile_screens(session, screen_ids=[world["screen"]], key=KEY, now=clock.now)[0]
    assert result.new_version and result.record is not None and result.error is None
    reasons = {(e.kind, e.id): e.reason for e in result.excluded}
    assert reasons[("schedule", str(world["schedule"]))].startswith("invalid rule:")
    body = verified(result.record, clock)
    assert all(seg["is_default"] for seg in body["timeline"])  # type: ignore[index, union-attr]


def test_the_configured_language_order_reaches_manifest_preview_and_caption_checks(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock) -> None:
    """One screen spec: a screen set up [vi, km, en] (Khmer first facing Cambodia) is drawn so everywhere."""
    from signage_core.languages import Language
    from signage_server.screens.models import Layout, Screen
    from signage_server.slides import preview

    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    screen = session.get_one(Screen, world["screen"])
    screen.languages, screen.layout = screens.check_languages(["vi", "km", "en"]), Layout.ROTATE
    session.add(screen)
    session.flush()
    order = (Language.VI, Language.KM, Language.EN)
    assert preview.screen_spec(screen).languages == order
    result = compile_one(session, world["screen"], clock)
    assert result.record is not None, result.error
    body = verified(result.record, clock)
    assert body["layout"]["languages"] == ["vi", "km", "en"]  # type: ignore[index]
    # Rotate: a 10 s item gives each of the three languages 3.3 s, above the 3 s minimum dwell: not lengthened.
    items = body["playlists"][str(world["playlist"])]["items"]  # type: ignore[index]
    assert [i["duration_ms"] for i in items] == [10_000]


def test_a_screens_own_rotation_dwell_lengthens_its_rotate_items_in_the_signed_manifest(
        session: Session, world: dict[str, int], users: dict[str, User], clock: Clock) -> None:
    """The rotate rule's minimum dwell is the screen's setting: 5 s x 3 languages makes a 10 s item 15 s."""
    from signage_server.screens.models import Screen

    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    screens.update_screen(session, actor=users["admin"], screen_id=world["screen"], now=NOW,
                          fields={"layout": "rotate", "languages": ["vi", "km", "en"], "rotation_dwell_s": 5})
    body = verified(compile_one(session, world["screen"], clock).record, clock)  # type: ignore[arg-type]
    assert body["layout"]["rotation_ms"] == 5000  # type: ignore[index]
    items = body["playlists"][str(world["playlist"])]["items"]  # type: ignore[index]
    assert [i["duration_ms"] for i in items] == [15_000]
    with pytest.raises(Invalid, match="rotation_dwell_s must be between 1.0 and 60.0 seconds"):
        screens.update_screen(session, actor=users["admin"], screen_id=world["screen"], now=NOW,
                              fields={"rotation_dwell_s": 0.2})
    assert session.get_one(Screen, world["screen"]).rotation_dwell_s == 5
