"""Every API route: success, validation error, not found, wrong role (403), no login (401)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.server.world import png

MISSING = 999_999


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    role: str  # a role that succeeds
    ok: int = 200
    body: Any = None
    bad: Any = None  # a body (or query) with a wrong type or missing field -> 422
    bad_path: str | None = None  # or a path that fails validation (non-integer id)
    forbidden: str | None = None  # a role that must get 403
    missing_path: str | None = None  # a path naming something that does not exist -> 404
    missing_body: Any = None  # or a body referring to something that does not exist -> 404
    upload: bool = False
    query: dict[str, Any] = field(default_factory=dict)


# A brightness plan on fixed times (sun-relative ones need the site's coordinates).
PLAN = {"day_percent": 90, "night_percent": 20, "day_from": {"at": "06:00"}, "night_from": {"at": "18:30"},
        "ramp_minutes": 20, "alert_percent": 100}


def brightness_cases(kind: str, placeholder: str) -> list[Case]:
    """The same five brightness routes for screens and groups: read by anyone, set by operators."""
    base, missing = f"/api/v1/{kind}/{{{placeholder}}}/brightness", f"/api/v1/{kind}/{MISSING}/brightness"
    return [
        Case(f"get {kind} brightness", "GET", base, "translator", bad_path=f"/api/v1/{kind}/abc/brightness",
             missing_path=missing),
        Case(f"set {kind} brightness", "PUT", base, "operator", body=PLAN, bad={**PLAN, "day_percent": "bright"},
             forbidden="translator", missing_path=missing),
        Case(f"override {kind} brightness", "PUT", base + "/override", "operator", body={"percent": 100, "minutes": 120},
             bad={"percent": 100, "minutes": "long"}, forbidden="approver", missing_path=missing + "/override"),
        Case(f"end {kind} brightness override", "DELETE", base + "/override", "operator",
             bad_path=f"/api/v1/{kind}/x/brightness/override", forbidden="translator",
             missing_path=missing + "/override"),
        Case(f"delete {kind} brightness", "DELETE", base, "operator", 204, bad_path=f"/api/v1/{kind}/x/brightness",
             forbidden="translator", missing_path=missing),
    ]


def screen_body(world: dict[str, int]) -> dict[str, Any]:
    return {"site_id": world["site"], "name": "bu-dop-ticker", "width_px": 960, "height_px": 160,
            "pixel_pitch_mm": 10, "layout": "ticker", "languages": ["km", "vi"]}


CASES = [
    Case("list data feeds", "GET", "/api/v1/feeds", "translator"),
    Case("create data feed", "POST", "/api/v1/feeds", "admin", 201,
         body={"name": "ty-gia", "kind": "rates", "url": "http://127.0.0.1:9/rates.json", "period_s": 600},
         bad={"name": "ty-gia", "kind": "rates", "url": "http://127.0.0.1:9/", "period_s": "often"},
         forbidden="operator"),
    Case("get data feed", "GET", "/api/v1/feeds/{feed}", "translator", bad_path="/api/v1/feeds/x",
         missing_path="/api/v1/feeds/999999"),
    Case("change data feed", "PUT", "/api/v1/feeds/{feed}", "admin",
         body={"name": "thoi-tiet", "kind": "temperature", "url": "http://127.0.0.1:9/t.json", "period_s": 900},
         bad={"name": "thoi-tiet", "kind": "temperature", "url": "http://127.0.0.1:9/", "period_s": "often"},
         forbidden="operator", missing_path="/api/v1/feeds/999999"),
    # Port 9 on this machine refuses at once: the read is answered, with the feed's last_error saying why.
    Case("read data feed now", "POST", "/api/v1/feeds/{feed}/read", "admin", forbidden="operator",
         missing_path="/api/v1/feeds/999999/read"),
    Case("delete data feed", "DELETE", "/api/v1/feeds/{feed}", "admin", 204, forbidden="operator",
         missing_path="/api/v1/feeds/999999"),
    Case("list sites", "GET", "/api/v1/sites", "translator", bad={"limit": 0}),
    Case("create site", "POST", "/api/v1/sites", "admin", 201, body={"slug": "bu-dop", "name": "Bù Đốp"},
         bad={"slug": 5, "name": "x"}, forbidden="operator"),
    Case("get site", "GET", "/api/v1/sites/{site}", "operator", bad_path="/api/v1/sites/abc",
         missing_path=f"/api/v1/sites/{MISSING}"),
    Case("update site", "PATCH", "/api/v1/sites/{site}", "admin", body={"name": "Hoa Lư"}, bad={"name": ["x"]},
         forbidden="operator", missing_path=f"/api/v1/sites/{MISSING}"),
    Case("delete site", "DELETE", "/api/v1/sites/{empty_site}", "admin", 204, bad_path="/api/v1/sites/x",
         forbidden="operator", missing_path=f"/api/v1/sites/{MISSING}"),
    Case("list groups", "GET", "/api/v1/groups", "approver", bad={"offset": -1}),
    Case("create group", "POST", "/api/v1/groups", "operator", 201, body={"name": "bu-dop-all"},
         bad={"name": None}, forbidden="translator"),
    Case("get group", "GET", "/api/v1/groups/{group}", "translator", bad_path="/api/v1/groups/1.5",
         missing_path=f"/api/v1/groups/{MISSING}"),
    Case("update group", "PATCH", "/api/v1/groups/{group}", "operator", body={"description": "all of Hoa Lư"},
         bad={"colour": "red"}, forbidden="translator", missing_path=f"/api/v1/groups/{MISSING}"),
    Case("delete group", "DELETE", "/api/v1/groups/{empty_group}", "operator", 204, bad_path="/api/v1/groups/x",
         forbidden="approver", missing_path=f"/api/v1/groups/{MISSING}"),
    Case("list screens", "GET", "/api/v1/screens", "operator", bad={"site_id": "loc-ninh"}),
    Case("create screen", "POST", "/api/v1/screens", "admin", 201, body=screen_body,
         bad={"site_id": 1, "name": "x", "width_px": "wide", "height_px": 1, "pixel_pitch_mm": 1, "languages": ["vi"]},
         forbidden="operator", missing_body=lambda w: {**screen_body(w), "site_id": MISSING}),
    Case("get screen", "GET", "/api/v1/screens/{screen}", "translator", bad_path="/api/v1/screens/abc",
         missing_path=f"/api/v1/screens/{MISSING}"),
    Case("update screen", "PATCH", "/api/v1/screens/{screen}", "admin", body={"foreign_ratio": 0.7},
         bad={"foreign_ratio": "big"}, forbidden="operator", missing_path=f"/api/v1/screens/{MISSING}"),
    Case("set enrolment", "PUT", "/api/v1/screens/{screen}/enrolment", "admin", body={"enrolment": "revoked"},
         bad={"enrolment": "maybe"}, forbidden="approver", missing_path=f"/api/v1/screens/{MISSING}/enrolment"),
    Case("delete screen", "DELETE", "/api/v1/screens/{spare_screen}", "admin", 204, bad_path="/api/v1/screens/x",
         forbidden="operator", missing_path=f"/api/v1/screens/{MISSING}"),
    *brightness_cases("screens", "screen"),
    *brightness_cases("groups", "group"),
    Case("list assets", "GET", "/api/v1/assets", "translator", bad={"limit": "many"}),
    Case("upload asset", "POST", "/api/v1/assets", "operator", 201, upload=True, forbidden="translator"),
    Case("get asset", "GET", "/api/v1/assets/{asset}", "translator", bad_path="/api/v1/assets/abc",
         missing_path=f"/api/v1/assets/{MISSING}"),
    Case("asset content", "GET", "/api/v1/assets/{asset}/content", "translator",
         bad_path="/api/v1/assets/abc/content", missing_path=f"/api/v1/assets/{MISSING}/content"),
    Case("list slides", "GET", "/api/v1/slides", "translator", bad={"limit": 10_000}),
    Case("create slide", "POST", "/api/v1/slides", "operator", 201, body={"name": "investment"},
         bad={"name": {"vi": "x"}}, forbidden="translator", missing_body={"name": "x", "asset_id": MISSING}),
    Case("get slide", "GET", "/api/v1/slides/{slide}", "approver", bad_path="/api/v1/slides/abc",
         missing_path=f"/api/v1/slides/{MISSING}"),
    Case("update slide", "PATCH", "/api/v1/slides/{free_slide}", "operator", body={"name": "friendship"},
         bad={"name": 3}, forbidden="translator", missing_path=f"/api/v1/slides/{MISSING}"),
    Case("delete slide", "DELETE", "/api/v1/slides/{free_slide}", "operator", 204, bad_path="/api/v1/slides/x",
         forbidden="translator", missing_path=f"/api/v1/slides/{MISSING}"),
    Case("slide image", "PUT", "/api/v1/slides/{free_slide}/image", "operator", upload=True,
         forbidden="translator", missing_path=f"/api/v1/slides/{MISSING}/image"),
    Case("retire slide", "POST", "/api/v1/slides/{free_slide}/retire", "operator", bad_path="/api/v1/slides/x/retire",
         forbidden="translator", missing_path=f"/api/v1/slides/{MISSING}/retire"),
    Case("restore slide", "POST", "/api/v1/slides/{free_slide}/restore", "operator",
         bad_path="/api/v1/slides/x/restore", forbidden="approver", missing_path=f"/api/v1/slides/{MISSING}/restore"),
    Case("approve slide", "POST", "/api/v1/slides/{slide}/approve", "approver2", bad_path="/api/v1/slides/x/approve",
         forbidden="operator", missing_path=f"/api/v1/slides/{MISSING}/approve"),
    Case("list captions", "GET", "/api/v1/slides/{slide}/captions", "translator",
         bad_path="/api/v1/slides/x/captions", missing_path=f"/api/v1/slides/{MISSING}/captions"),
    Case("get caption", "GET", "/api/v1/slides/{slide}/captions/km", "operator",
         bad_path="/api/v1/slides/{slide}/captions/fr", missing_path="/api/v1/slides/{free_slide}/captions/vi"),
    Case("caption revisions", "GET", "/api/v1/slides/{slide}/captions/km/revisions", "translator",
         bad_path="/api/v1/slides/{slide}/captions/fr/revisions",
         missing_path=f"/api/v1/slides/{MISSING}/captions/km/revisions"),
    Case("write caption", "PUT", "/api/v1/slides/{free_slide}/captions/vi", "operator",
         body={"text": "Việt Nam – Campuchia: hữu nghị truyền thống"}, bad={"text": 42}, forbidden="translator",
         missing_path=f"/api/v1/slides/{MISSING}/captions/vi"),
    Case("submit caption", "POST", "/api/v1/slides/{draft_slide}/captions/vi/submit", "operator",
         bad_path="/api/v1/slides/{draft_slide}/captions/xx/submit", forbidden="translator",
         missing_path="/api/v1/slides/{free_slide}/captions/vi/submit"),
    Case("approve caption", "POST", "/api/v1/slides/{pending_slide}/captions/vi/approve", "approver",
         bad_path="/api/v1/slides/{pending_slide}/captions/vn/approve", forbidden="translator",
         missing_path="/api/v1/slides/{free_slide}/captions/vi/approve"),
    Case("return caption", "POST", "/api/v1/slides/{pending_slide}/captions/vi/return", "approver",
         body={"reason": "sai chính tả"}, bad={"why": "x"}, forbidden="operator",
         missing_path="/api/v1/slides/{free_slide}/captions/vi/return"),
    Case("list playlists", "GET", "/api/v1/playlists", "translator", bad={"limit": -5}),
    Case("create playlist", "POST", "/api/v1/playlists", "operator", 201,
         body=lambda w: {"name": "bu-dop-main", "items": [{"slide_id": w["slide"], "duration_s": 12}]},
         bad={"name": "x", "items": [{"slide_id": "first"}]}, forbidden="translator"),
    Case("get playlist", "GET", "/api/v1/playlists/{playlist}", "approver", bad_path="/api/v1/playlists/x",
         missing_path=f"/api/v1/playlists/{MISSING}"),
    Case("update playlist", "PATCH", "/api/v1/playlists/{playlist}", "operator",
         body=lambda w: {"items": [{"slide_id": w["slide"], "duration_s": 15}]}, bad={"items": "all"},
         forbidden="translator", missing_path=f"/api/v1/playlists/{MISSING}"),
    Case("delete playlist", "DELETE", "/api/v1/playlists/{empty_playlist}", "operator", 204,
         bad_path="/api/v1/playlists/x", forbidden="approver", missing_path=f"/api/v1/playlists/{MISSING}"),
    Case("list schedules", "GET", "/api/v1/schedules", "translator", bad={"offset": "start"}),
    Case("create schedule", "POST", "/api/v1/schedules", "operator", 201,
         body=lambda w: {"name": "tet", "playlist_id": w["playlist"], "priority": 5, "group_ids": [w["group"]]},
         bad={"name": "tet", "playlist_id": "main"}, forbidden="translator",
         missing_body=lambda w: {"name": "tet", "playlist_id": MISSING, "group_ids": [w["group"]]}),
    Case("get schedule", "GET", "/api/v1/schedules/{schedule}", "translator", bad_path="/api/v1/schedules/x",
         missing_path=f"/api/v1/schedules/{MISSING}"),
    Case("update schedule", "PATCH", "/api/v1/schedules/{schedule}", "operator", body={"priority": 9},
         bad={"priority": "high"}, forbidden="translator", missing_path=f"/api/v1/schedules/{MISSING}"),
    Case("delete schedule", "DELETE", "/api/v1/schedules/{schedule}", "operator", 204,
         bad_path="/api/v1/schedules/x", forbidden="approver", missing_path=f"/api/v1/schedules/{MISSING}"),
    Case("audit", "GET", "/api/v1/audit", "approver", bad={"limit": "x"}, forbidden="operator"),
    Case("list users", "GET", "/api/v1/users", "admin", bad={"limit": 0}, forbidden="operator"),
    Case("create user", "POST", "/api/v1/users", "admin", 201,
         body={"username": "tran.thi.b", "role": "translator", "languages": ["km"], "password": "mật khẩu dài lắm"},
         bad={"username": "x", "role": "boss", "password": "0123456789"}, forbidden="approver"),
    Case("get user", "GET", "/api/v1/users/{operator_id}", "admin", bad_path="/api/v1/users/x",
         forbidden="operator", missing_path=f"/api/v1/users/{MISSING}"),
    Case("update user", "PATCH", "/api/v1/users/{operator_id}", "admin", body={"display_name": "Nguyễn Văn A"},
         bad={"is_active": "perhaps"}, forbidden="operator", missing_path=f"/api/v1/users/{MISSING}"),
    Case("me", "GET", "/api/v1/auth/me", "translator"),
    Case("list tokens", "GET", "/api/v1/auth/tokens", "operator", bad={"limit": 0}),
    Case("create token", "POST", "/api/v1/auth/tokens", "operator", 201, body={"name": "ci"}, bad={"name": []}),
    Case("revoke token", "DELETE", "/api/v1/auth/tokens/{spare_token}", "operator",
         bad_path="/api/v1/auth/tokens/x", missing_path=f"/api/v1/auth/tokens/{MISSING}"),
    Case("logout", "POST", "/api/v1/auth/logout", "operator", 204),
    Case("all screen statuses", "GET", "/api/v1/screens/status", "translator"),
    Case("screen status", "GET", "/api/v1/screens/{screen}/status", "operator", bad_path="/api/v1/screens/x/status",
         missing_path=f"/api/v1/screens/{MISSING}/status"),
    Case("play log", "GET", "/api/v1/playlog", "approver", bad={"from": "yesterday"}),
    Case("enrolment code", "POST", "/api/v1/screens/{spare_screen}/enrolment-code", "admin", 201,
         bad_path="/api/v1/screens/x/enrolment-code", forbidden="operator",
         missing_path=f"/api/v1/screens/{MISSING}/enrolment-code"),
    Case("alert templates", "GET", "/api/v1/alert-templates", "operator"),
]
# Need a live broker or a stored screenshot/alert: tested in test_transport_app.py against Mosquitto.
# The manifest and timeline routes have their own tests (test_manifests.py, test_schedules.py) with
# real compiled versions; the anonymous-caller test below covers their 401.
MANIFEST_ROUTES = {("POST", "/api/v1/screens/{screen_id}/manifests/compile"),
                   ("GET", "/api/v1/screens/{screen_id}/manifests/at"),
                   ("GET", "/api/v1/screens/{screen_id}/timeline"),
                   ("GET", "/api/v1/screens/{screen_id}/manifests"),
                   ("GET", "/api/v1/screens/{screen_id}/manifests/{version}"),
                   ("GET", "/api/v1/manifests/signing-key")}
BROKER_ROUTES = {("POST", "/api/v1/enrol"), ("POST", "/api/v1/alerts"), ("GET", "/api/v1/alerts/{alert_id}"),
                 ("POST", "/api/v1/alerts/{alert_id}/withdraw"), ("GET", "/api/v1/screens/{screen_id}/screenshot")}


def _ids(case: Case) -> str:
    return case.name


@pytest.fixture(scope="module")
def module_ids(module_world: dict[str, int], engine: Any, seeded: dict[str, tuple[int, str]],
               settings: Any) -> dict[str, int]:
    from sqlmodel import Session

    from signage_server.assets.service import store_image
    from signage_server.assets.store import AssetStore
    from signage_server.users.models import User
    from signage_server.users.service import create_api_token
    from tests.server.conftest import TEST_SECRET
    from tests.server.world import NOW

    with Session(engine, expire_on_commit=False) as session:
        operator = session.get_one(User, seeded["operator"][0])
        asset, _ = store_image(session, actor=operator, store=AssetStore(settings.assets_dir), data=png(),
                               max_bytes=10**6, max_pixels=10**6, now=NOW)
        _token, row = create_api_token(session, actor=operator, name="spare", secret=TEST_SECRET, now=NOW)
        # A plan to override: the world's screen and group follow one (an override needs a plan under it).
        from signage_server.screens import brightness
        from signage_server.screens.models import Screen, ScreenGroup
        for placed in (session.get_one(Screen, module_world["screen"]), session.get_one(ScreenGroup, module_world["group"])):
            brightness.set_plan(session, actor=None, row=placed, plan=brightness.StoredPlan(**PLAN), now=NOW)
        from signage_server.feeds.models import DataFeed
        feed = DataFeed(name="thoi-tiet", kind="temperature", url="http://127.0.0.1:9/t.json", period_s=600,
                        created_at=NOW)
        session.add(feed)
        session.commit()
        return {**module_world, "asset": asset.id, "spare_token": row.id,  # type: ignore[dict-item]
                "operator_id": seeded["operator"][0], "feed": feed.id}


@pytest.fixture
def ids(module_ids: dict[str, int], api: Any) -> dict[str, int]:
    return module_ids


def _send(client: Any, case: Case, ids: dict[str, int], *, path: str | None = None, body: Any = None,
          query: dict[str, Any] | None = None, with_file: bool = True) -> Any:
    url = (path or case.path).format(**ids)
    kwargs: dict[str, Any] = {}
    if case.upload and with_file:
        kwargs["files"] = {"file": ("slide.png", png(colour=(10, 200, 10)), "image/png")}
    elif body is not None:
        kwargs["json"] = body(ids) if callable(body) else body
    if query:
        kwargs["params"] = query
    return client.request(case.method, url, **kwargs)


def _assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_success(case: Case, api: Any, ids: dict[str, int]) -> None:
    response = _send(api.as_(case.role), case, ids, body=case.body)
    assert response.status_code == case.ok, response.text
    if case.ok != 204 and "json" in response.headers.get("content-type", ""):
        assert "error" not in response.json()


@pytest.mark.parametrize("case", [c for c in CASES if c.bad is not None or c.bad_path or c.upload], ids=_ids)
def test_validation_error(case: Case, api: Any, ids: dict[str, int]) -> None:
    client = api.as_(case.role)
    if case.bad_path:
        response = _send(client, case, ids, path=case.bad_path, body=case.body)
    elif case.upload:
        response = _send(client, case, ids, with_file=False)
    elif case.method == "GET":
        response = _send(client, case, ids, query=case.bad)
    else:
        response = _send(client, case, ids, body=case.bad)
    error = _assert_error(response, 422, "invalid")
    assert error["details"].get("field"), error  # the client learns which field was wrong


@pytest.mark.parametrize("case", [c for c in CASES if c.missing_path or c.missing_body], ids=_ids)
def test_not_found(case: Case, api: Any, ids: dict[str, int]) -> None:
    client = api.as_(case.role)
    if case.missing_path:
        response = _send(client, case, ids, path=case.missing_path, body=case.body)
    else:
        response = _send(client, case, ids, body=case.missing_body)
    _assert_error(response, 404, "not_found")


@pytest.mark.parametrize("case", [c for c in CASES if c.forbidden], ids=_ids)
def test_wrong_role(case: Case, api: Any, ids: dict[str, int]) -> None:
    response = _send(api.as_(case.forbidden), case, ids, body=case.body)
    _assert_error(response, 403, "forbidden")


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_no_login(case: Case, api: Any, ids: dict[str, int]) -> None:
    response = _send(api.anon, case, ids, body=case.body)
    _assert_error(response, 401, "unauthorized")


def test_login_route(api: Any, ids: dict[str, int]) -> None:
    ok = api.anon.post("/api/v1/auth/login", json={"username": "operator", "password": "correct horse battery"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["role"] == "operator"
    _assert_error(api.anon.post("/api/v1/auth/login", json={"username": "operator"}), 422, "invalid")
    _assert_error(api.anon.post("/api/v1/auth/login", json={"username": "operator", "password": "nope nope nope"}),
                  401, "unauthorized")
    _assert_error(api.anon.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope nope nope"}),
                  401, "unauthorized")


def test_every_api_route_is_covered() -> None:
    """A new route without a row in CASES fails here, so the matrix stays complete."""
    from signage_server.app import create_app
    from signage_server.config import Settings

    app = create_app(Settings(secret_key="x" * 40, dev=True, database_url="sqlite://", mqtt_enabled=False))
    # FastAPI now keeps included routers as opaque objects; the OpenAPI schema lists every route.
    routes = {(method.upper(), path) for path, ops in app.openapi()["paths"].items()
              if path.startswith("/api/v1") for method in ops}
    assert len(routes) > 40  # the walk really found the API
    covered = {(c.method, c.path.replace("{site}", "{site_id}")) for c in CASES}
    normalise = {"{site}": "{site_id}", "{empty_site}": "{site_id}", "{group}": "{group_id}",
                 "{empty_group}": "{group_id}", "{screen}": "{screen_id}", "{spare_screen}": "{screen_id}",
                 "{asset}": "{asset_id}", "{slide}": "{slide_id}", "{free_slide}": "{slide_id}",
                 "{draft_slide}": "{slide_id}", "{pending_slide}": "{slide_id}", "{playlist}": "{playlist_id}",
                 "{empty_playlist}": "{playlist_id}", "{schedule}": "{schedule_id}", "{operator_id}": "{user_id}",
                 "{spare_token}": "{token_id}", "{feed}": "{feed_id}", "/km": "/{language}", "/vi": "/{language}"}
    covered = set()
    for c in CASES:
        path = c.path
        for old, new in normalise.items():
            path = path.replace(old, new)
        if "/brightness" in path:  # one pair of route builders serves screens and groups (screens/routes.py)
            path = path.replace("{screen_id}", "{row_id}").replace("{group_id}", "{row_id}")
        covered.add((c.method, path))
    covered.add(("POST", "/api/v1/auth/login"))
    covered |= BROKER_ROUTES | MANIFEST_ROUTES
    # Reports have their own role matrix over a known journal (test_reports_web.py).
    covered |= {(m, p) for m, p in routes if p.startswith("/api/v1/reports/")}
    assert routes - covered == set()


PUBLIC_ROUTES = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/enrol")}


def test_every_api_route_refuses_an_anonymous_caller(api: Any) -> None:
    """Whatever a route is for, without a token or session it answers 401 and does nothing."""
    routes = {(method.upper(), path) for path, ops in api.app.openapi()["paths"].items()
              if path.startswith("/api/v1") for method in ops}
    assert len(routes) > 40
    for method, path in sorted(routes - PUBLIC_ROUTES):
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        r = api.anon.request(method, concrete, json={} if method in ("POST", "PUT", "PATCH") else None)
        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "unauthorized"


def test_roles_are_checked_in_the_service_layer(session: Any, users: Any, world: dict[str, int]) -> None:
    """Not only the HTTP layer: a service called directly still refuses the wrong role."""
    from signage_server.errors import Forbidden
    from signage_server.screens import service as screens
    from signage_server.slides import service as slides
    from tests.server.world import NOW

    with pytest.raises(Forbidden):
        screens.create_site(session, actor=users["operator"], slug="x", name="X", now=NOW)
    with pytest.raises(Forbidden):
        slides.approve_slide(session, actor=users["translator"], slide_id=world["slide"], now=NOW)


def test_openapi_documents_the_api(api: Any) -> None:
    spec = api.anon.get("/openapi.json").json()
    assert "/api/v1/screens/{screen_id}" in spec["paths"]
    assert "/api/v1/slides/{slide_id}/captions/{language}/approve" in spec["paths"]


def test_unknown_route_uses_the_error_shape(api: Any) -> None:
    r = api.anon.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_a_page_larger_than_the_settings_allow_is_refused(api: Any, settings: Any) -> None:
    client = api.as_("translator")
    assert client.get("/api/v1/slides", params={"limit": settings.page_size_max}).status_code == 200
    error = _assert_error(client.get("/api/v1/slides", params={"limit": settings.page_size_max + 1}), 422, "invalid")
    assert error["details"]["field"] == "limit"
