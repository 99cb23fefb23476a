"""HTTP for login, logout, the current user, API tokens and (admins) accounts."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response, status

from signage_server.deps import (
    SESSION_COOKIE,
    CurrentUser,
    NowDep,
    PrincipalDep,
    RequireRole,
    SessionDep,
    SettingsDep,
    client_address,
    secret_key,
)
from signage_server.pagination import Page, PageDep
from signage_server.users import service
from signage_server.users.models import Role, User
from signage_server.users.schemas import (
    LoginRequest,
    Me,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter(tags=["users"])
AdminOnly = RequireRole(Role.ADMIN)


def login_limits(settings: SettingsDep) -> service.LoginLimits:
    return service.LoginLimits(
        window=timedelta(minutes=settings.login_window_minutes),
        max_per_account=settings.login_max_failures_per_account,
        max_per_address=settings.login_max_failures_per_address,
    )


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    """HttpOnly so scripts cannot read it, Lax against cross-site posts, Secure over HTTPS."""
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age_s, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


@router.post("/auth/login")
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep,
          settings: SettingsDep, now: NowDep) -> Me:
    address = client_address(request)
    user = service.authenticate(session, username=body.username, password=body.password, address=address,
                                limits=login_limits(settings), now=now)
    ttl = timedelta(hours=settings.session_hours)
    token, row = service.start_session(session, user=user, address=address,
                                       secret=secret_key(request), ttl=ttl, now=now)
    set_session_cookie(request, response, token, int(ttl.total_seconds()))
    return Me(user=UserRead.model_validate(user), csrf_token=row.csrf_token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: PrincipalDep, session: SessionDep, now: NowDep) -> Response:
    if principal.login_session is not None:
        service.end_session(session, login_session=principal.login_session, actor=principal.user, now=now)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me")
def me(principal: PrincipalDep) -> Me:
    csrf = principal.login_session.csrf_token if principal.login_session else None
    return Me(user=UserRead.model_validate(principal.user), csrf_token=csrf)


@router.get("/auth/tokens", response_model=Page[TokenRead])
def list_tokens(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[TokenRead]:
    items, total = service.list_api_tokens(session, actor=user, limit=page.limit, offset=page.offset)
    return Page(items=[TokenRead.model_validate(t) for t in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, request: Request, session: SessionDep, user: CurrentUser,
                 now: NowDep) -> TokenCreated:
    token, row = service.create_api_token(session, actor=user, name=body.name,
                                          secret=secret_key(request), now=now)
    return TokenCreated.model_validate({**row.model_dump(), "token": token})


@router.delete("/auth/tokens/{token_id}")
def revoke_token(token_id: int, session: SessionDep, user: CurrentUser, now: NowDep) -> TokenRead:
    return TokenRead.model_validate(service.revoke_api_token(session, actor=user, token_id=token_id, now=now))


@router.get("/users", response_model=Page[UserRead])
def list_users(session: SessionDep, user: CurrentUser, page: PageDep) -> Page[UserRead]:
    items, total = service.list_users(session, actor=user, limit=page.limit, offset=page.offset)
    return Page(items=[UserRead.model_validate(u) for u in items], total=total, limit=page.limit, offset=page.offset)


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, user: CurrentUser, now: NowDep) -> UserRead:
    created = service.create_user(session, actor=user, username=body.username, display_name=body.display_name,
                                  role=body.role, password=body.password, languages=body.languages, now=now)
    return UserRead.model_validate(created)


@router.get("/users/{user_id}")
def get_user(user_id: int, session: SessionDep, admin: Annotated[User, AdminOnly]) -> UserRead:
    return UserRead.model_validate(service.get_user(session, user_id=user_id))


@router.patch("/users/{user_id}")
def update_user(user_id: int, body: UserUpdate, session: SessionDep, user: CurrentUser, now: NowDep) -> UserRead:
    updated = service.update_user(session, actor=user, user_id=user_id, now=now,
                                  **body.model_dump(exclude_unset=True))
    return UserRead.model_validate(updated)
