"""The HTML login page: minimal for now, but real, so cookie auth works end to end."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from signage_server.deps import NowDep, SessionDep, SettingsDep, client_address
from signage_server.errors import Forbidden, SignageError
from signage_server.users import service
from signage_server.users.routes import login_limits, set_session_cookie

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "signage_login_csrf"


def _safe_next(target: str) -> str:
    """Only same-site paths, so the login page cannot be used as an open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _page(request: Request, *, error: str | None, status_code: int, next_url: str) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, "login.html", {"csrf_token": token, "error": error, "next": next_url}, status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login")
    return response


@router.get("/")
def home() -> RedirectResponse:
    """Until the operator pages arrive (a later issue), the API docs are the home page."""
    return RedirectResponse("/api/docs", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, error=None, status_code=200, next_url=_safe_next(next))


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
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        raise Forbidden("the login form expired; reload the page", details={"field": "csrf_token"})
    address = client_address(request)
    try:
        user = service.authenticate(session, username=username, password=password, address=address,
                                    limits=login_limits(settings), now=now)
    except SignageError as exc:
        if not exc.keep_changes:
            raise
        # No exception leaves the handler, so the failed attempt is committed for the rate limit.
        return _page(request, error=exc.message, status_code=exc.status_code, next_url=_safe_next(next))
    ttl = timedelta(hours=settings.session_hours)
    token, _row = service.start_session(session, user=user, address=address,
                                        secret=request.app.state.secret_key, ttl=ttl, now=now)
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    set_session_cookie(request, response, token, int(ttl.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response
