"""Brightness plans set from the server reach the signed manifest, with the site's coordinates; roles and input checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session

from signage_server.manifests import service as manifests
from signage_server.screens.models import Screen
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import Api, Clock
from tests.server.world import NOW

PLAN = {"day_percent": 90, "night_percent": 15, "ramp_minutes": 20}


@pytest.fixture
def heard(app: object) -> Iterator[list[list[str]]]:
    calls: list[list[str]] = []
    unsubscribe = app.state.manifest_events.subscribe(calls.append)  # type: ignore[attr-defined]
    yield calls
    unsubscribe()


def body_of(session: Session, screen_id: int) -> dict[str, object]:
    session.expire_all()
    record = manifests.latest_manifest(session, screen_id=screen_id)
    assert record is not None
    return json.loads(record.envelope)["body"]  # type: ignore[no-any-return]


@pytest.fixture
def live(session: Session, world: dict[str, int], users: dict[str, User], app: object) -> dict[str, int]:
    """The world with its slide approved and the recompiler on, as in the running server."""
    app.state.manifest_recompiler.install(session)  # type: ignore[attr-defined]
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    return world


def test_sun_plan_needs_the_sites_coordinates_then_reaches_the_manifest(
        session: Session, live: dict[str, int], api: Api, heard: list[list[str]]) -> None:
    op = api.as_("operator")
    screen = live["screen"]
    r = op.put(f"/api/v1/screens/{screen}/brightness", json=PLAN)
    assert r.status_code == 422, r.text
    assert "latitude and longitude" in r.json()["error"]["message"] and "Hoa Lư" in r.json()["error"]["message"]

    r = api.as_("admin").patch(f"/api/v1/sites/{live['site']}", json={"latitude": 11.93, "longitude": 106.52})
    assert r.status_code == 200 and r.json()["latitude"] == 11.93
    heard.clear()
    r = op.put(f"/api/v1/screens/{screen}/brightness", json=PLAN)
    assert r.status_code == 200, r.text
    assert heard == [[str(screen)]], "only the screen whose plan changed gets a new version"
    plan = body_of(session, screen)["brightness"]
    assert plan["coordinates"] == {"latitude": 11.93, "longitude": 106.52}  # type: ignore[index]
    assert (plan["day_percent"], plan["night_percent"], plan["ramp_minutes"]) == (90, 15, 20)  # type: ignore[index]
    assert plan["day_from"] == {"at": None, "sun": "sunrise", "offset_minutes": 0}  # type: ignore[index]

    # Moving the site's coordinates re-issues its screens' manifests with the new place.
    r = api.as_("admin").patch(f"/api/v1/sites/{live['site']}", json={"latitude": 12.07, "longitude": 106.79})
    assert r.status_code == 200
    assert body_of(session, screen)["brightness"]["coordinates"]["latitude"] == 12.07  # type: ignore[index]


def test_group_plan_applies_to_members_and_a_screens_own_plan_wins(
        session: Session, live: dict[str, int], api: Api, heard: list[list[str]]) -> None:
    op = api.as_("operator")
    fixed = {"day_from": {"at": "06:30"}, "night_from": {"at": "18:15"}, "night_percent": 25}
    heard.clear()
    r = op.put(f"/api/v1/groups/{live['group']}/brightness", json=fixed)
    assert r.status_code == 200, r.text
    assert heard == [[str(live["screen"])]]
    plan = body_of(session, live["screen"])["brightness"]
    assert plan["night_percent"] == 25 and plan["coordinates"] is None  # type: ignore[index]
    r = op.put(f"/api/v1/screens/{live['screen']}/brightness", json={**fixed, "night_percent": 5})
    assert r.status_code == 200
    assert body_of(session, live["screen"])["brightness"]["night_percent"] == 5  # type: ignore[index]
    assert op.delete(f"/api/v1/screens/{live['screen']}/brightness").status_code == 204
    assert body_of(session, live["screen"])["brightness"]["night_percent"] == 25  # type: ignore[index]
    assert op.delete(f"/api/v1/groups/{live['group']}/brightness").status_code == 204
    assert "brightness" not in body_of(session, live["screen"]), "no plan: the body is as before the feature"


def test_override_for_the_next_hours_travels_signed(
        session: Session, live: dict[str, int], api: Api, clock: Clock) -> None:
    op = api.as_("operator")
    screen = live["screen"]
    r = op.put(f"/api/v1/screens/{screen}/brightness/override", json={"percent": 100, "minutes": 120})
    assert r.status_code == 422 and "plan before overriding" in r.json()["error"]["message"]
    assert op.put(f"/api/v1/screens/{screen}/brightness", json={"day_from": {"at": "06:00"},
                                                               "night_from": {"at": "18:00"}}).status_code == 200
    r = op.put(f"/api/v1/screens/{screen}/brightness/override", json={"percent": 100, "minutes": 120})
    assert r.status_code == 200, r.text
    override = body_of(session, screen)["brightness"]["override"]  # type: ignore[index]
    assert override["percent"] == 100  # type: ignore[index]
    until = override["until"]  # type: ignore[index]
    assert until == (clock.now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ") or until.startswith(
        (clock.now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"))
    # Saving the plan again keeps the override in force; ending it removes it from the manifest.
    assert op.put(f"/api/v1/screens/{screen}/brightness", json={"day_from": {"at": "06:00"},
                                                               "night_from": {"at": "18:00"}}).status_code == 200
    assert body_of(session, screen)["brightness"]["override"] is not None  # type: ignore[index]
    assert op.delete(f"/api/v1/screens/{screen}/brightness/override").status_code == 200
    assert body_of(session, screen)["brightness"]["override"] is None  # type: ignore[index]


def test_only_operators_and_admins_set_plans_and_bad_input_is_named(
        session: Session, live: dict[str, int], api: Api) -> None:
    path = f"/api/v1/screens/{live['screen']}/brightness"
    fixed = {"day_from": {"at": "06:00"}, "night_from": {"at": "18:00"}}
    assert api.as_("translator").put(path, json=fixed).status_code == 403
    assert api.anon.put(path, json=fixed).status_code == 401
    r = api.as_("operator").put(path, json={**fixed, "night_percent": 140})
    assert r.status_code == 422 and "night_percent" in r.text
    r = api.as_("operator").put(path, json={**fixed, "day_from": {"at": "06:00", "sun": "sunrise"}})
    assert r.status_code == 422 and "not both" in r.text
    r = api.as_("admin").patch(f"/api/v1/sites/{live['site']}", json={"latitude": 11.93})
    assert r.status_code == 422 and "give both or neither" in r.json()["error"]["message"]
    r = api.as_("admin").patch(f"/api/v1/sites/{live['site']}", json={"latitude": 95, "longitude": 106})
    assert r.status_code == 422
    session.expire_all()
    assert session.get_one(Screen, live["screen"]).brightness is None, "a refused plan writes nothing"
