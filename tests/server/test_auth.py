"""Login sessions, CSRF, API tokens, rate limits and the login page, end to end."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from signage_server.audit.models import AuditEvent, AuditImmutable
from signage_server.users.models import ApiToken
from tests.server.conftest import PASSWORD


def login(app: Any, username: str = "operator", password: str = PASSWORD,
          address: str = "testclient") -> tuple[TestClient, Any]:
    client = TestClient(app, client=(address, 50000))
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return client, response


def test_cookie_session_and_csrf(app: Any, world: dict[str, int]) -> None:
    client, r = login(app)
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain http here
    csrf = r.json()["csrf_token"]
    assert client.get("/api/v1/auth/me").json()["user"]["username"] == "operator"
    refused = client.post("/api/v1/groups", json={"name": "no-csrf"})
    assert refused.status_code == 403 and refused.json()["error"]["details"]["field"] == "x-csrf-token"
    wrong = client.post("/api/v1/groups", json={"name": "bad-csrf"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    ok = client.post("/api/v1/groups", json={"name": "with-csrf"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_logout_kills_the_session_and_login_issues_a_new_id(app: Any, world: dict[str, int]) -> None:
    client, first = login(app)
    old = client.cookies.get("signage_session")
    _again, second = login(app)
    assert second.cookies.get("signage_session") != old  # a fresh id at every login
    csrf = first.json()["csrf_token"]
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    replay = TestClient(app, cookies={"signage_session": old})
    r = replay.get("/api/v1/auth/me")
    assert r.status_code == 401


def test_session_expires(app: Any, world: dict[str, int], clock: Any) -> None:
    client, _ = login(app)
    clock.advance(hours=13)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_deactivated_user_is_locked_out(api: Any, app: Any, world: dict[str, int]) -> None:
    client, _ = login(app, "operator2")
    api.as_("admin").patch(f"/api/v1/users/{api.id_of('operator2')}", json={"is_active": False})
    assert client.get("/api/v1/auth/me").status_code == 401
    _c, r = login(app, "operator2")
    assert r.status_code == 401


def test_api_tokens_are_hashed_and_revocable(api: Any, app: Any, world: dict[str, int], session: Any) -> None:
    created = api.as_("operator").post("/api/v1/auth/tokens", json={"name": "newsroom script"}).json()
    token = created["token"]
    rows = session.exec(select(ApiToken)).all()
    assert all(token not in (row.token_hash, row.prefix) for row in rows)
    bot = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert bot.get("/api/v1/auth/me").json()["user"]["username"] == "operator"
    # A bearer request needs no CSRF token: no browser sends it on its own.
    assert bot.post("/api/v1/groups", json={"name": "from-bot"}).status_code == 201
    api.as_("operator").delete(f"/api/v1/auth/tokens/{created['id']}")
    assert bot.get("/api/v1/auth/me").status_code == 401
    assert TestClient(app, headers={"Authorization": "Basic abc"}).get("/api/v1/auth/me").status_code == 401


def test_rate_limit_per_account(app: Any, world: dict[str, int], clock: Any) -> None:
    for _ in range(5):
        assert login(app, "approver", "wrong password!")[1].status_code == 401
    blocked = login(app, "approver")[1]  # even the right password is refused while blocked
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limited"
    assert login(app, "approver2")[1].status_code == 200  # other accounts still work
    clock.advance(minutes=16)
    assert login(app, "approver")[1].status_code == 200


def test_guessing_from_elsewhere_cannot_lock_an_account_out_of_its_own_desk(
        app: Any, world: dict[str, int], clock: Any) -> None:
    own_desk, attacker, elsewhere, second = "10.20.0.5", "198.51.100.7", "203.0.113.9", "192.0.2.44"
    assert login(app, "admin", address=own_desk)[1].status_code == 200  # the admin's usual address
    for _ in range(5):
        assert login(app, "admin", "wrong password!", address=attacker)[1].status_code == 401
    assert login(app, "admin", address=attacker)[1].status_code == 429  # that pair is locked
    assert login(app, "admin", address=own_desk)[1].status_code == 200  # the admin is not
    # Elsewhere, the account is slowed, not locked: one try per (doubling, capped) wait after its last failure.
    slowed = login(app, "admin", "another guess", address=second)[1]
    assert slowed.status_code == 429 and slowed.json()["error"]["details"]["retry_after_s"] == 1
    clock.advance(seconds=1)
    assert login(app, "admin", "another guess", address=second)[1].status_code == 401
    waited = login(app, "admin", address=elsewhere)[1]
    assert waited.status_code == 429 and waited.json()["error"]["details"]["retry_after_s"] == 2
    clock.advance(seconds=2)
    assert login(app, "admin", address=elsewhere)[1].status_code == 200


def test_rate_limit_per_address(app: Any, world: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.state.settings, "login_max_failures_per_address", 3)
    for name in ("ghost1", "ghost2", "ghost3"):
        assert login(app, name, "whatever-pass")[1].status_code == 401
    assert login(app, "operator")[1].status_code == 429


def test_login_page_form_flow(app: Any, world: dict[str, int]) -> None:
    browser = TestClient(app, follow_redirects=False)
    page = browser.get("/login", params={"next": '/x"><script>alert(1)</script>'})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script>alert(1)</script>" not in page.text  # autoescaped
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    forged = TestClient(app, follow_redirects=False).post(
        "/login", data={"username": "operator", "password": PASSWORD, "csrf_token": token})
    assert forged.status_code == 403  # no matching cookie: a cross-site form cannot log you in
    bad = browser.post("/login", data={"username": "operator", "password": "nope nope", "csrf_token": token})
    assert bad.status_code == 401 and "sai tên đăng nhập hoặc mật khẩu" in bad.text  # Vietnamese by default
    page = browser.get("/login", params={"next": "https://evil.example/"})
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    ok = browser.post("/login", data={"username": "operator", "password": PASSWORD, "csrf_token": token,
                                      "next": "https://evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert browser.get("/api/v1/auth/me").json()["user"]["username"] == "operator"


def test_audit_trail_is_append_only(api: Any, world: dict[str, int], session: Any) -> None:
    event = session.exec(select(AuditEvent)).first()
    event.action = "tampered"
    session.add(event)
    with pytest.raises(AuditImmutable):
        session.flush()
    session.rollback()
    with pytest.raises(AuditImmutable):
        session.delete(session.exec(select(AuditEvent)).first())
        session.flush()
