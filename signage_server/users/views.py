"""Log in/out, password change, the language switch, and the admin's user pages."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from signage_core.languages import Language
from signage_server.deps import (
    SESSION_COOKIE,
    NowDep,
    SessionDep,
    SettingsDep,
    client_address,
    secret_key,
)
from signage_server.errors import SignageError
from signage_server.i18n import pick_locale
from signage_server.users import service
from signage_server.users.models import Role
from signage_server.users.routes import login_limits, set_session_cookie
from signage_server.web import (
    LANG_COOKIE,
    AnyViewer,
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "signage_login_csrf"
Admins = Annotated[Viewer, PageUser(Role.ADMIN)]
# Where each role starts: the first page of its work.
_HOME = ((Role.OPERATOR, "/slides"), (Role.TRANSLATOR, "/translate"), (Role.APPROVER, "/approve"))


def _safe_next(target: str) -> str:
    """Only same-site paths, so the login page cannot be used as an open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, *, error: str | None, status_code: int, next_url: str) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, status_code=status_code, login_csrf=token, error=error,
                      next=next_url)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login")
    return response


@router.get("/")
def home(viewer: AnyViewer) -> RedirectResponse:
    for role, path in _HOME:
        if viewer.user.role == role:
            return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)
    return RedirectResponse("/slides", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str = "/") -> RedirectResponse:
    """A preference, not a change of state: a plain link is enough."""
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(LANG_COOKIE, pick_locale(code), max_age=365 * 86400, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _login_page(request, error=None, status_code=200, next_url=_safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    _ = gettext_for(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(request, error=_("The login form expired; please try again."), status_code=403,
                           next_url=_safe_next(next))
    address = client_address(request)
    try:
        user = service.authenticate(session, username=username, password=password, address=address,
                                    limits=login_limits(settings), now=now)
    except SignageError as exc:
        if not exc.keep_changes and exc.status_code != 429:
            raise
        # No exception leaves the handler, so the failed attempt is committed for the rate limit.
        return _login_page(request, error=error_text(request, exc), status_code=exc.status_code,
                           next_url=_safe_next(next))
    secret = secret_key(request)
    old = request.cookies.get(SESSION_COOKIE)
    found = service.session_user(session, token=old, secret=secret, now=now) if old else None
    if found is not None:
        # Session fixation: whatever id the browser brought dies; the login gets a fresh one.
        session.delete(found[1])
    ttl = timedelta(hours=settings.session_hours)
    token, _row = service.start_session(session, user=user, address=address, secret=secret, ttl=ttl, now=now)
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(request, response, token, int(ttl.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, now: NowDep, viewer: AnyViewer) -> Response:
    """The session row is deleted, so a copied cookie is worthless afterwards."""
    service.end_session(session, login_session=viewer.login_session, actor=viewer.user, now=now)
    response = redirect(request, "/login", gettext_for(request)("You are logged out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, viewer: AnyViewer) -> Response:
    return render(request, "password.html", viewer, error=None)


@router.post("/password")
def password_submit(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, viewer: AnyViewer,
                    current: Annotated[str, Form(max_length=1000)],
                    new: Annotated[str, Form(max_length=1000)]) -> Response:
    try:
        with session.begin_nested():
            service.change_password(session, user=viewer.user, current=current, new=new, now=now)
    except SignageError as exc:
        return render(request, "password.html", viewer, status_code=exc.status_code, error=error_text(request, exc))
    # Every session ended with the old password; this browser continues on a fresh one.
    ttl = timedelta(hours=settings.session_hours)
    token, _row = service.start_session(session, user=viewer.user, address=client_address(request),
                                        secret=secret_key(request), ttl=ttl, now=now)
    response = redirect(request, "/", gettext_for(request)("Password changed."))
    set_session_cookie(request, response, token, int(ttl.total_seconds()))
    return response


def _foreign() -> list[str]:
    return [lang.value for lang in Language if lang != Language.VI]


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, viewer: Admins) -> Response:
    items, _total = service.list_users(session, actor=viewer.user, limit=1000, offset=0)
    return render(request, "users.html", viewer, users=items, roles=[r.value for r in Role], foreign=_foreign())


@router.post("/users")
def create_user(request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                username: Annotated[str, Form(max_length=64)], role: Annotated[str, Form()],
                password: Annotated[str, Form(max_length=1000)],
                display_name: Annotated[str, Form(max_length=200)] = "",
                languages: Annotated[list[str] | None, Form()] = None) -> Response:
    try:
        with session.begin_nested():
            user = service.create_user(session, actor=viewer.user, username=username, display_name=display_name,
                                       role=_role(request, role), password=password, languages=languages or [],
                                       now=now)
    except SignageError as exc:
        # The password is never kept: it is typed again.
        return redirect(request, "/users", error_text(request, exc), "error",
                        keep={"username": username, "display_name": display_name, "role": role,
                              "languages": languages or []})
    return redirect(request, "/users", gettext_for(request)("User created.") + f" {user.username}")


def _role(request: Request, value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise PageError(422, gettext_for(request)("Unknown role.")) from None


def _target(request: Request, session: SessionDep, user_id: int) -> object:
    try:
        return service.get_user(session, user_id=user_id)
    except SignageError:
        raise PageError(404, gettext_for(request)("No such user.")) from None


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(user_id: int, request: Request, session: SessionDep, viewer: Admins) -> Response:
    return render(request, "user.html", viewer, target=_target(request, session, user_id),
                  roles=[r.value for r in Role], foreign=_foreign())


@router.post("/users/{user_id}")
def update_user(user_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                role: Annotated[str, Form()], display_name: Annotated[str, Form(max_length=200)] = "",
                languages: Annotated[list[str] | None, Form()] = None,
                is_active: Annotated[str | None, Form()] = None) -> Response:
    target = service.get_user(session, user_id=user_id) if _target(request, session, user_id) else None
    new_role = _role(request, role)
    # Only what changed is sent: a role change ends the account's sessions, a rename must not.
    changed_role = new_role if target is not None and new_role != target.role else None
    try:
        with session.begin_nested():
            service.update_user(session, actor=viewer.user, user_id=user_id, display_name=display_name,
                                role=changed_role,
                                languages=(languages or []) if new_role == Role.TRANSLATOR else None,
                                is_active=is_active is not None, now=now)
    except SignageError as exc:
        return redirect(request, f"/users/{user_id}", error_text(request, exc), "error")
    return redirect(request, f"/users/{user_id}", gettext_for(request)("Saved."))


@router.post("/users/{user_id}/password")
def reset_password(user_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Admins,
                   password: Annotated[str, Form(max_length=1000)]) -> Response:
    _target(request, session, user_id)
    try:
        with session.begin_nested():
            service.update_user(session, actor=viewer.user, user_id=user_id, password=password, now=now)
    except SignageError as exc:
        return redirect(request, f"/users/{user_id}", error_text(request, exc), "error")
    return redirect(request, f"/users/{user_id}", gettext_for(request)("Password reset; the user's sessions ended."))


