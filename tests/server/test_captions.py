"""The caption workflow as users meet it: states, four-eyes, reopening, NFC, publishability."""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlmodel import select

from signage_server.audit.models import AuditEvent
from signage_server.captions.models import CaptionRevision

VI = "Chào mừng quý khách đến với Việt Nam"
VI_NFD = unicodedata.normalize("NFD", VI)


def cap(api: Any, who: str, slide: int, lang: str, action: str = "", **body: Any) -> Any:
    path = f"/api/v1/slides/{slide}/captions/{lang}" + (f"/{action}" if action else "")
    client = api.as_(who)
    if action:
        return client.post(path, json=body or None)
    return client.put(path, json=body)


def test_draft_submit_approve(api: Any, world: dict[str, int]) -> None:
    slide = world["free_slide"]
    r = cap(api, "operator", slide, "vi", text=VI)
    assert r.status_code == 200 and r.json()["state"] == "draft"
    assert cap(api, "approver", slide, "vi", "approve").status_code == 409  # a draft is not up for approval
    assert cap(api, "operator", slide, "vi", "submit").json()["state"] == "submitted"
    approved = cap(api, "approver", slide, "vi", "approve").json()
    assert approved["state"] == "approved"
    assert approved["approved_by_id"] == api.id_of("approver")
    assert approved["approved_at"] == "2026-03-01T08:00:00Z"  # the injected clock, not the wall clock


def test_return_needs_reason_and_goes_back_to_writer(api: Any, world: dict[str, int]) -> None:
    slide = world["pending_slide"]
    r = cap(api, "approver", slide, "vi", "return", reason="   ")
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "reason"
    r = cap(api, "approver", slide, "vi", "return", reason="Thiếu dấu ở chữ 'quy định'")
    assert r.json()["state"] == "returned"
    assert r.json()["return_reason"] == "Thiếu dấu ở chữ 'quy định'"
    fixed = cap(api, "operator", slide, "vi", text="Đề nghị quý khách chấp hành nghiêm các quy định")
    assert fixed.json()["state"] == "draft" and fixed.json()["return_reason"] is None
    assert cap(api, "operator", slide, "vi", "submit").json()["state"] == "submitted"


def test_nobody_approves_their_own_text(api: Any, world: dict[str, int]) -> None:
    slide = world["free_slide"]
    cap(api, "translator", slide, "en", text="Welcome to Viet Nam", submit=True)
    r = cap(api, "translator", slide, "en", "approve")
    assert r.status_code == 403 and r.json()["error"]["details"]["rule"] == "four-eyes"
    cap(api, "admin", slide, "vi", text=VI, submit=True)
    assert cap(api, "admin", slide, "vi", "approve").status_code == 403  # admins too
    assert cap(api, "translator_en", slide, "en", "approve").json()["state"] == "approved"


def test_languages_are_enforced_per_role(api: Any, world: dict[str, int]) -> None:
    slide = world["free_slide"]
    assert cap(api, "translator_en", slide, "km", text="សូមស្វាគមន៍").status_code == 403
    assert cap(api, "translator", slide, "vi", text=VI).status_code == 403  # Vietnamese is the operators'
    assert cap(api, "operator", slide, "en", text="Welcome").status_code == 403
    r = cap(api, "operator", slide, "fr", text="Bienvenue")
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "language"


def test_edit_after_approval_is_a_new_revision_and_the_live_one_stays(api: Any, world: dict[str, int]) -> None:
    slide = world["slide"]  # all captions approved in the world
    assert api.as_("approver2").post(f"/api/v1/slides/{slide}/approve").json()["publishable"] is True
    live_id = cap(api, "operator", slide, "vi").json()  # PUT without body is refused ...
    live = api.as_("operator").get(f"/api/v1/slides/{slide}/captions/vi").json()
    edited = cap(api, "operator", slide, "vi", text=VI + "!")
    assert edited.json()["state"] == "draft" and edited.json()["id"] != live["id"]
    assert edited.json()["live_revision_id"] == live["id"] and edited.json()["live_text"] == VI
    submitted = cap(api, "operator", slide, "vi", text=VI + "!", submit=True).json()
    assert submitted["state"] == "submitted" and submitted["id"] == edited.json()["id"]
    view = api.as_("operator").get(f"/api/v1/slides/{slide}").json()
    assert view["publishable"] is True and view["approved_at"] is not None  # a pending text takes nothing off the air
    assert view["missing_languages"] == [] and view["on_air"]["vi"] == live["id"]
    assert live_id["error"]["code"] == "invalid"


def test_nfd_is_stored_compared_and_returned_as_nfc(api: Any, world: dict[str, int], session: Any) -> None:
    slide = world["free_slide"]
    r = cap(api, "operator", slide, "vi", text=VI_NFD, submit=True)
    assert r.json()["text"] == VI and r.json()["text"] != VI_NFD
    row = session.exec(select(CaptionRevision).where(CaptionRevision.slide_id == slide, CaptionRevision.language == "vi")).one()
    assert row.text == VI and unicodedata.is_normalized("NFC", row.text)
    assert api.as_("translator").get(f"/api/v1/slides/{slide}/captions/vi").json()["text"] == VI
    cap(api, "approver", slide, "vi", "approve")
    # The same words typed in NFD are the same text: an approved caption stays approved.
    again = cap(api, "operator", slide, "vi", text=VI_NFD)
    assert again.json()["state"] == "approved"


def test_publishable_needs_every_language_its_screens_show(api: Any, world: dict[str, int]) -> None:
    slide = world["pending_slide"]  # in the playlist of a vi/en/km screen, only vi written
    view = api.as_("operator").get(f"/api/v1/slides/{slide}").json()
    assert view["required_languages"] == ["vi", "en", "km"]
    cap(api, "approver", slide, "vi", "approve")
    r = api.as_("approver2").post(f"/api/v1/slides/{slide}/approve")
    assert r.status_code == 409 and r.json()["error"]["details"]["missing_languages"] == ["en", "km"]
    for lang, text in (("en", "Please comply with the regulations"), ("km", "សូមគោរពច្បាប់")):
        cap(api, "translator", slide, lang, text=text, submit=True)
        cap(api, "approver", slide, lang, "approve")
    done = api.as_("approver2").post(f"/api/v1/slides/{slide}/approve").json()
    assert done["publishable"] is True and done["missing_languages"] == []


def test_slide_approval_is_four_eyes(api: Any, world: dict[str, int]) -> None:
    created = api.as_("admin").post("/api/v1/slides", json={"name": "admin-made"}).json()
    cap(api, "operator", created["id"], "vi", text=VI, submit=True)
    cap(api, "approver", created["id"], "vi", "approve")
    r = api.as_("admin").post(f"/api/v1/slides/{created['id']}/approve")
    assert r.status_code == 403 and r.json()["error"]["details"]["rule"] == "four-eyes"
    assert api.as_("approver2").post(f"/api/v1/slides/{created['id']}/approve").json()["publishable"] is True


def test_state_changes_are_audited(api: Any, world: dict[str, int], session: Any) -> None:
    slide = world["pending_slide"]
    cap(api, "approver", slide, "vi", "approve")
    events = api.as_("approver").get("/api/v1/audit", params={"entity": "caption"}).json()["items"]
    latest = events[0]
    assert latest["action"] == "caption.approve" and latest["actor_name"] == "approver"
    assert latest["before"]["state"] == "submitted" and latest["after"]["state"] == "approved"
    row = session.get(AuditEvent, latest["id"])
    assert "password_hash" not in str(row.after)
