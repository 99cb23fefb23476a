"""Bad input: a clear error (status, code, field) and no half-written rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from signage_server.audit.models import AuditEvent
from signage_server.playlists.models import Playlist
from signage_server.screens.models import Screen


def count(session: Any, model: Any) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


def new_screen(world: dict[str, int], **overrides: Any) -> dict[str, Any]:
    body = {"site_id": world["site"], "name": "bu-dop-square", "width_px": 640, "height_px": 320,
            "pixel_pitch_mm": 8, "languages": ["vi", "km"]}
    return body | overrides


def test_oversized_json_body(api: Any, world: dict[str, int], settings: Any) -> None:
    huge = {"name": "x", "description": "a" * (settings.max_body_bytes + 1)}
    err = error_of(api.as_("operator").post("/api/v1/groups", json=huge), 413)
    assert err["code"] == "payload_too_large" and err["details"]["limit"] == settings.max_body_bytes


def test_oversized_chunked_body(api: Any, world: dict[str, int], settings: Any) -> None:
    """No Content-Length (chunked upload): the limit still holds and the answer is still a clean 413."""
    chunks = iter([b'{"name": "' + b"a" * settings.max_body_bytes, b'"}'])
    r = api.as_("operator").post("/api/v1/groups", content=chunks, headers={"content-type": "application/json"})
    assert error_of(r, 413)["code"] == "payload_too_large"


def test_malformed_json_and_unknown_fields(api: Any, world: dict[str, int]) -> None:
    client = api.as_("operator")
    err = error_of(client.post("/api/v1/groups", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert err["code"] == "invalid"
    err = error_of(client.post("/api/v1/groups", json={"name": "g", "colour": "red"}), 422)
    assert err["details"]["field"] == "colour"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"width_px": "wide"}, "width_px"),
    ({"width_px": 100_000}, "width_px"),
    ({"pixel_pitch_mm": -3}, "pixel_pitch_mm"),
    ({"languages": ["vi", "fr"]}, "languages"),
    ({"languages": ["en", "km"]}, "languages"),
    ({"languages": ["vi", "vi"]}, "languages"),
    ({"foreign_ratio": 1.5}, "foreign_ratio"),
    ({"layout": "spiral"}, "layout"),
    ({"on_time": "06:00"}, "off_time"),
    ({"on_time": "25:00", "off_time": "22:00"}, "on_time"),
])
def test_bad_screen_fields_name_the_field_and_write_nothing(
        api: Any, world: dict[str, int], session: Any, overrides: dict[str, Any], field: str) -> None:
    screens, events = count(session, Screen), count(session, AuditEvent)
    err = error_of(api.as_("admin").post("/api/v1/screens", json=new_screen(world, **overrides)), 422)
    assert err["details"]["field"] == field, err
    assert (count(session, Screen), count(session, AuditEvent)) == (screens, events)


def test_screen_languages_keep_vietnamese_first(api: Any, world: dict[str, int]) -> None:
    r = api.as_("admin").post("/api/v1/screens", json=new_screen(world, languages=["km", "en", "vi"]))
    assert r.json()["languages"] == ["vi", "km", "en"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/sites", {"slug": "loc-ninh-hoa-lu", "name": "again"}, "slug"),
    ("/api/v1/groups", {"name": "hoa-lu-all"}, "name"),
    ("/api/v1/slides", {"name": "welcome"}, "name"),
    ("/api/v1/playlists", {"name": "hoa-lu-main"}, "name"),
    ("/api/v1/screens", None, "name"),
    ("/api/v1/users", {"username": "operator", "role": "operator", "password": "long enough pw"}, "username"),
])
def test_duplicate_names_conflict(api: Any, world: dict[str, int], path: str, body: Any, field: str) -> None:
    if body is None:
        body = new_screen(world, name="hoa-lu-arrivals")
    err = error_of(api.as_("admin").post(path, json=body), 409)
    assert err["code"] == "conflict" and err["details"]["field"] == field


def test_renaming_onto_an_existing_name_conflicts(api: Any, world: dict[str, int]) -> None:
    r = api.as_("operator").patch(f"/api/v1/slides/{world['free_slide']}", json={"name": "welcome"})
    assert error_of(r, 409)["details"]["field"] == "name"


def test_deleting_a_screen_with_history_is_refused(api: Any, world: dict[str, int], session: Any) -> None:
    spare = world["spare_screen"]
    api.as_("admin").put(f"/api/v1/screens/{spare}/enrolment", json={"enrolment": "enrolled"})
    err = error_of(api.as_("admin").delete(f"/api/v1/screens/{spare}"), 409)
    assert "history" in err["message"] and err["details"]["enrolment"] == "enrolled"
    assert session.get(Screen, spare) is not None
    screen = session.get(Screen, world["screen"])
    screen.manifest_version = 3
    session.add(screen)
    session.commit()
    err = error_of(api.as_("admin").delete(f"/api/v1/screens/{world['screen']}"), 409)
    assert err["details"]["manifest_version"] == 3


def test_revoked_screen_stays_revoked(api: Any, world: dict[str, int]) -> None:
    spare = world["spare_screen"]
    api.as_("admin").put(f"/api/v1/screens/{spare}/enrolment", json={"enrolment": "revoked"})
    err = error_of(api.as_("admin").put(f"/api/v1/screens/{spare}/enrolment", json={"enrolment": "enrolled"}), 409)
    assert err["details"]["field"] == "enrolment"


def test_things_in_use_cannot_be_deleted(api: Any, world: dict[str, int]) -> None:
    admin = api.as_("admin")
    assert error_of(admin.delete(f"/api/v1/sites/{world['site']}"), 409)["code"] == "conflict"
    assert error_of(admin.delete(f"/api/v1/slides/{world['slide']}"), 409)["code"] == "conflict"
    assert error_of(admin.delete(f"/api/v1/playlists/{world['playlist']}"), 409)["code"] == "conflict"
    assert error_of(admin.delete(f"/api/v1/groups/{world['group']}"), 409)["code"] == "conflict"


def test_playlist_with_a_bad_item_writes_nothing(api: Any, world: dict[str, int], session: Any) -> None:
    playlists, events = count(session, Playlist), count(session, AuditEvent)
    body = {"name": "half", "items": [{"slide_id": world["slide"], "duration_s": 10},
                                      {"slide_id": 987654, "duration_s": 10}]}
    err = error_of(api.as_("operator").post("/api/v1/playlists", json=body), 422)
    assert err["details"]["field"] == "items.1.slide_id"
    body["items"] = [{"slide_id": world["slide"], "duration_s": 0}]
    assert error_of(api.as_("operator").post("/api/v1/playlists", json=body), 422)["details"]["field"] == \
        "items.0.duration_s"
    assert (count(session, Playlist), count(session, AuditEvent)) == (playlists, events)


def test_screen_with_unknown_group_writes_nothing(api: Any, world: dict[str, int], session: Any) -> None:
    screens = count(session, Screen)
    error_of(api.as_("admin").post("/api/v1/screens", json=new_screen(world, group_ids=[424242])), 404)
    assert count(session, Screen) == screens


def test_caption_text_checks(api: Any, world: dict[str, int]) -> None:
    path = f"/api/v1/slides/{world['free_slide']}/captions/vi"
    client = api.as_("operator")
    assert error_of(client.put(path, json={"text": "  \n "}), 422)["details"]["field"] == "text"
    assert error_of(client.put(path, json={"text": "bell\x07"}), 422)["details"]["field"] == "text"
    assert error_of(client.put(path, json={"text": "x" * 1001}), 422)["details"]["field"] == "text"
    # Line breaks and zero-width spaces (Khmer break hints) are content, not errors.
    assert client.put(path, json={"text": "Dòng một\nDòng\u200bhai"}).status_code == 200


def test_user_input_checks(api: Any, world: dict[str, int]) -> None:
    admin = api.as_("admin")
    base = {"username": "nguyen.van.c", "role": "translator", "password": "long enough pw"}
    assert error_of(admin.post("/api/v1/users", json=base), 422)["details"]["field"] == "languages"
    assert error_of(admin.post("/api/v1/users", json=base | {"languages": ["fr"]}), 422)["details"]["field"] == \
        "languages"
    assert error_of(admin.post("/api/v1/users", json=base | {"languages": ["km"], "password": "short"}),
                    422)["details"]["field"] == "password"
    r = admin.patch(f"/api/v1/users/{api.id_of('admin')}", json={"role": "operator"})
    assert error_of(r, 403)["code"] == "forbidden"  # no admin locks themselves out


def test_pagination(api: Any, world: dict[str, int]) -> None:
    page = api.as_("operator").get("/api/v1/slides", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 1
    assert [s["name"] for s in page["items"]] == ["free", "traffic"]


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/api/v1/users/9223372036854775808", 404, None),
    ("/api/v1/screens/1/manifests/9223372036854775808", 404, None),
    ("/api/v1/slides/-9223372036854775809", 404, None),
    ("/api/v1/slides?offset=9223372036854775808", 422, "offset"),
    ("/api/v1/reports/airtime?from=0001-01-01", 422, "from"),
    ("/api/v1/reports/airtime?to=9999-12-31", 422, "to"),
])
def test_ids_numbers_and_dates_out_of_range_are_404_or_422_not_500(
        api: Any, world: dict[str, int], path: str, status: int, field: str | None) -> None:
    err = error_of(api.as_("admin").get(path), status)
    if field:
        assert err["details"]["field"] == field and "between" in err["message"]



@pytest.mark.parametrize("asset_id", [9223372036854775808, 2**31])
def test_a_body_number_past_what_the_database_holds_is_422_and_writes_nothing(
        api: Any, world: dict[str, int], session: Any, asset_id: int) -> None:
    """Fuzzing found POST /slides with asset_id 2**63 answering 500 (SQLite OverflowError)."""
    from sqlmodel import select

    from signage_server.slides.models import Slide

    before = len(session.exec(select(Slide)).all())
    response = api.as_("admin").post("/api/v1/slides", json={"name": "too-big", "asset_id": asset_id})
    assert response.status_code in (404, 422), response.text
    assert response.status_code != 500
    assert len(session.exec(select(Slide)).all()) == before
