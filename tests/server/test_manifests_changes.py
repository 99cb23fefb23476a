"""The explicit recompile trigger: what a bulk delete hides from the ORM still recompiles the screens concerned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from signage_server.audit import service as audit
from signage_server.manifests import service as manifests
from signage_server.manifests.changes import note_changes, take_changes
from signage_server.manifests.models import ManifestChange
from signage_server.playlists import service as playlists
from signage_server.schedules import service as schedules
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import Api
from tests.server.world import NOW


@pytest.fixture
def lane(session: Session, world: dict[str, int], users: dict[str, User], app: object) -> Iterator[dict[str, int]]:
    """A second screen whose manifest carries an extra playlist only through a schedule (by screen or by group)."""
    app.state.manifest_recompiler.install(session)  # type: ignore[attr-defined]
    op = users["operator"]
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    extra = playlists.create_playlist(session, actor=op, name="extra",
                                      items=[playlists.ItemSpec(slide_id=world["slide"], duration_s=20)], now=NOW)
    own = playlists.create_playlist(session, actor=op, name="lane-default",  # shares nothing with other screens
                                    items=[playlists.ItemSpec(slide_id=world["slide"], duration_s=15)], now=NOW)
    group = screens.create_group(session, actor=users["admin"], name="lanes", now=NOW)
    screen = screens.create_screen(session, actor=users["admin"], fields={
        "site_id": world["site"], "name": "lane-9", "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
        "languages": ["vi", "en", "km"], "default_playlist_id": own.id, "group_ids": [group.id]}, now=NOW)
    direct = schedules.create_schedule(session, actor=op, fields={
        "name": "extra-direct", "playlist_id": extra.id, "priority": 5, "rule": {}}, screen_ids=[screen.id], now=NOW)
    by_group = schedules.create_schedule(session, actor=op, fields={
        "name": "extra-group", "playlist_id": extra.id, "priority": 4, "rule": {}}, group_ids=[group.id], now=NOW)
    session.commit()
    assert str(extra.id) in playlists_in(session, screen.id)
    yield {"screen": screen.id, "playlist": extra.id, "direct": direct.id, "by_group": by_group.id}


def playlists_in(session: Session, screen_id: int) -> set[str]:
    session.expire_all()
    record = manifests.latest_manifest(session, screen_id=screen_id)
    assert record is not None
    return set(json.loads(record.envelope)["body"]["playlists"])


def version(session: Session, screen_id: int) -> int:
    session.expire_all()
    record = manifests.latest_manifest(session, screen_id=screen_id)
    return record.version if record is not None else 0


def test_deleting_schedules_recompiles_the_screens_their_bulk_deleted_links_reached(
        session: Session, lane: dict[str, int], api: Api) -> None:
    before = version(session, lane["screen"])
    assert api.as_("operator").delete(f"/api/v1/schedules/{lane['direct']}").status_code == 204
    assert api.as_("operator").delete(f"/api/v1/schedules/{lane['by_group']}").status_code == 204
    assert version(session, lane["screen"]) > before
    assert str(lane["playlist"]) not in playlists_in(session, lane["screen"])
    assert session.exec(select(ManifestChange)).all() == []  # taken by the commit that wrote them


def test_retargeting_schedules_recompiles_the_screens_they_left(
        session: Session, world: dict[str, int], lane: dict[str, int], api: Api) -> None:
    for schedule_id, fields in ((lane["direct"], {"screen_ids": [world["screen"]]}),
                                (lane["by_group"], {"group_ids": [], "screen_ids": [world["screen"]]})):
        r = api.as_("operator").patch(f"/api/v1/schedules/{schedule_id}", json=fields)
        assert r.status_code == 200, r.text
    assert str(lane["playlist"]) not in playlists_in(session, lane["screen"])
    assert str(lane["playlist"]) in playlists_in(session, world["screen"])


def test_emptying_a_playlist_in_bulk_recompiles_the_screens_showing_it(
        session: Session, lane: dict[str, int], api: Api) -> None:
    before = version(session, lane["screen"])
    r = api.as_("operator").patch(f"/api/v1/playlists/{lane['playlist']}", json={"items": []})
    assert r.status_code == 200, r.text
    assert version(session, lane["screen"]) == before + 1
    assert str(lane["playlist"]) not in playlists_in(session, lane["screen"])


def test_renamed_audit_snapshot_keys_do_not_stop_recompiles(
        session: Session, lane: dict[str, int], api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit trail is for people: what it calls a schedule's targets is no business of the recompiler."""
    record = audit.record

    def renamed(session: Session, **kwargs: Any) -> object:
        for side in ("before", "after"):
            if kwargs[side] is not None:
                kwargs[side] = {f"old_{key}": value for key, value in kwargs[side].items()}
        return record(session, **kwargs)

    monkeypatch.setattr(audit, "record", renamed)
    before = version(session, lane["screen"])
    assert api.as_("operator").delete(f"/api/v1/schedules/{lane['direct']}").status_code == 204
    assert api.as_("operator").delete(f"/api/v1/schedules/{lane['by_group']}").status_code == 204
    assert version(session, lane["screen"]) > before
    assert str(lane["playlist"]) not in playlists_in(session, lane["screen"])


def test_taking_changes_returns_each_target_once_and_clears_them(session: Session) -> None:
    take_changes(session)  # what the world's services noted without a recompiler installed
    note_changes(session, kind="screen", ids=[3, 3, None, 1])
    note_changes(session, kind="playlist", ids=[3])
    session.flush()
    assert take_changes(session) == {("screen", 1), ("screen", 3), ("playlist", 3)}
    assert take_changes(session) == set()


def test_announcements_carry_the_envelopes_just_committed(
        session: Session, lane: dict[str, int], api: Api, app: object) -> None:
    heard: list[Any] = []
    unsubscribe = app.state.manifest_events.subscribe(heard.append)  # type: ignore[attr-defined]
    try:
        assert api.as_("operator").delete(f"/api/v1/schedules/{lane['direct']}").status_code == 204
        assert api.as_("operator").delete(f"/api/v1/schedules/{lane['by_group']}").status_code == 204
    finally:
        unsubscribe()
    session.expire_all()
    announced = {sid: signed for announcement in heard for sid, signed in announcement.envelopes.items()}
    assert str(lane["screen"]) in announced
    for sid, signed in announced.items():
        record = manifests.latest_manifest(session, screen_id=int(sid))
        assert record is not None and (signed.version, signed.envelope_json) == (record.version, record.envelope_json)


def test_a_first_enrolment_recompiles_nothing_and_a_revocation_recompiles_the_screens_sharing_content(
        session: Session, world: dict[str, int], users: dict[str, User], app: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Enrolling a screen (its state and its commissioning date) changes no manifest: at 1,000 screens on one
    playlist each enrolment recompiled all 1,000 (~130 ms of a ~160 ms enrolment). A revocation does change
    what other screens may show (a revoked screen's languages are no longer required), so it recompiles."""
    from signage_server.manifests import compiler
    from signage_server.screens.models import Enrolment

    app.state.manifest_recompiler.install(session)  # type: ignore[attr-defined]
    asked: list[set[int]] = []
    real = compiler.compile_screens

    def spy(session: Session, *, screen_ids: Any, **kw: Any) -> list[compiler.CompileResult]:
        asked.append(set(screen_ids))
        return real(session, screen_ids=screen_ids, **kw)

    monkeypatch.setattr(compiler, "compile_screens", spy)
    screens.set_enrolment(session, actor=None, screen_id=world["screen"], state=Enrolment.ENROLLED, now=NOW)
    session.commit()
    assert screens.get_screen(session, screen_id=world["screen"]).commissioned_at is not None
    assert asked == []
    screens.set_enrolment(session, actor=users["admin"], screen_id=world["screen"], state=Enrolment.REVOKED,
                          now=NOW)
    session.commit()
    assert asked and world["screen"] in asked[0]
