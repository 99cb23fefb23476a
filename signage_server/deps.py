"""Request-scoped dependencies and the Annotated aliases that keep handler signatures short."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlmodel import Session

from signage_core.signing import SigningKey

# Re-exported: handlers import every dependency from here.
from signage_server.app_state import SettingsDep as SettingsDep
from signage_server.app_state import app_settings as app_settings
from signage_server.assets.store import AssetStore
from signage_server.db import READ_MOSTLY
from signage_server.errors import Forbidden, SignageError, Unauthorized
from signage_server.manifests.events import Recompiler
from signage_server.manifests.keys import KeyRing
from signage_server.permissions import require_role
from signage_server.transport.service import TransportService, running_transport
from signage_server.users import service as users
from signage_server.users.models import LoginSession, Role, User

SESSION_COOKIE = "signage_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def secret_key(request: Request) -> str:
    """The secret that signs cookies and hashes tokens and codes (Settings.resolved_secret_key, read once)."""
    secret: str = request.app.state.secret_key
    return secret


def key_ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.key_ring
    return ring


def _signing_key(ring: Annotated[KeyRing, Depends(key_ring)]) -> SigningKey:
    return ring.current()


def _asset_store(request: Request) -> AssetStore:
    store: AssetStore = request.app.state.asset_store
    return store


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def templates(request: Request) -> Jinja2Templates:
    found: Jinja2Templates = request.app.state.templates
    return found


def _recompiler(request: Request) -> Recompiler:
    recompiler: Recompiler = request.app.state.manifest_recompiler
    return recompiler


@dataclass(frozen=True)
class Broker:
    """This process's MQTT side: the running transport, or who holds it (so a 503 can say why there is none)."""

    transport: TransportService | None
    transport_holder: str | None

    def require(self, *, needed_for: str) -> TransportService:
        """Asked inside the handler, so a wrong role or a bad body is refused before a missing broker."""
        return running_transport(self, needed_for=needed_for)


def _broker(request: Request) -> Broker:
    state = request.app.state
    return Broker(transport=state.transport, transport_holder=state.transport_holder)


def _transport(broker: Annotated[Broker, Depends(_broker)]) -> TransportService | None:
    return broker.transport


# Requests that only read: their transaction must not take SQLite's write lock (see db.READ_MOSTLY).
READ_METHODS = ("GET", "HEAD")


def _touch_token_apart(request: Request, token: str, secret: str, now: datetime) -> None:
    """A read request marks its token as used in a short transaction of its own."""
    factory = request.app.state.session_factory
    with factory() as own:
        token_id = users.token_touch_due(own, token=token, secret=secret, now=now)
        if token_id is not None:
            users.touch_token(own, token=token_id, now=now)
            own.commit()


def _session(request: Request) -> Iterator[Session]:
    """Commit when the handler succeeds, roll back when it raises: services only flush."""
    session: Session = request.app.state.session_factory()
    if request.method in READ_METHODS:
        session.connection(execution_options={READ_MOSTLY: True})
    try:
        yield session
        session.commit()
    except SignageError as exc:
        if exc.keep_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


NowDep = Annotated[datetime, Depends(_now)]
SecretKeyDep = Annotated[str, Depends(secret_key)]
KeyRingDep = Annotated[KeyRing, Depends(key_ring)]
# The one way a request gets the manifest signing key: the ring's current key (re-read after a rotation).
SigningKeyDep = Annotated[SigningKey, Depends(_signing_key)]
AssetStoreDep = Annotated[AssetStore, Depends(_asset_store)]
EngineDep = Annotated[Engine, Depends(_engine)]
RecompilerDep = Annotated[Recompiler, Depends(_recompiler)]
BrokerDep = Annotated[Broker, Depends(_broker)]
# For work that happens only when this process runs the MQTT side (None otherwise), never a 503.
OptionalTransportDep = Annotated[TransportService | None, Depends(_transport)]
# scope="function": commit before the response is sent, so a failed commit is never reported as success.
SessionDep = Annotated[Session, Depends(_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    user: User
    login_session: LoginSession | None  # None when authenticated by API token


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _principal(request: Request, session: SessionDep, now: NowDep, secret: SecretKeyDep) -> Principal:
    """Bearer token or session cookie; cookie-authenticated writes must carry the CSRF token."""
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        reading = request.method in READ_METHODS
        user = users.token_user(session, token=token.strip(), secret=secret, now=now, touch=not reading)
        if user is None:
            raise Unauthorized("unknown or revoked API token")
        if reading:
            _touch_token_apart(request, token.strip(), secret, now)
        return Principal(user=user, login_session=None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized("log in first")
    found = users.session_user(session, token=cookie, secret=secret, now=now)
    if found is None:
        raise Unauthorized("session expired; log in again")
    user, login_session = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), login_session.csrf_token.encode()):
            raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)",
                            details={"field": CSRF_HEADER})
    return Principal(user=user, login_session=login_session)


PrincipalDep = Annotated[Principal, Depends(_principal)]


def has_credentials(request: Request) -> bool:
    """Whether a request carries a live API token or session: asked before an upload's body is read."""
    secret = secret_key(request)
    now = _now(request)
    with request.app.state.session_factory() as session:
        session.connection(execution_options={READ_MOSTLY: True})
        authorization = request.headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            return (scheme.lower() == "bearer" and bool(token.strip())
                    and users.token_user(session, token=token.strip(), secret=secret, now=now, touch=False) is not None)
        cookie = request.cookies.get(SESSION_COOKIE)
        return bool(cookie) and users.session_user(session, token=cookie or "", secret=secret, now=now) is not None


def _current_user(principal: PrincipalDep) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(_current_user)]


def RequireRole(*roles: Role) -> Any:
    """Depends() that yields the user when they hold one of the roles, else 403."""

    def check(user: CurrentUser) -> User:
        require_role(user, *roles)
        return user

    return Depends(check)
