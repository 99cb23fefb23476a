"""Accounts, passwords, login sessions, API tokens and login rate limits; no HTTP here."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from signage_core.languages import ordered
from signage_server.audit import service as audit
from signage_server.audit.models import AuditEvent
from signage_server.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthorized
from signage_server.languages import parse_languages
from signage_server.pagination import paginate
from signage_server.permissions import require_role
from signage_server.users.models import ApiToken, LoginAttempt, LoginSession, Role, User

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "sgn_"  # noqa: S105 (a label, not a secret)
_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the username is unknown, so timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")


class LoginFailed(Unauthorized):
    """A wrong password: the failed attempt must be committed even though the request fails."""

    keep_changes = True


@dataclass(frozen=True)
class LoginLimits:
    window: timedelta
    max_per_account: int
    max_per_address: int


def keyed_hash(secret: str, token: str) -> str:
    """Tokens are stored keyed-hashed: a leaked table cannot be replayed as sessions."""
    return hmac.new(secret.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise Invalid("username must be 1-64 letters, digits, '.', '_' or '-'", field="username")
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password must be at least %(min)s characters", field="password",
                      params={"min": MIN_PASSWORD_LENGTH})


def _check_languages(role: Role, languages: list[str]) -> list[str]:
    """Translators need the languages they sign off; other roles carry none."""
    parsed = parse_languages(languages, field="languages")
    if role != Role.TRANSLATOR:
        if parsed:
            raise Invalid("only translators have languages", field="languages")
        return []
    if not parsed:
        raise Invalid("a translator needs at least one language", field="languages")
    return [lang.value for lang in ordered(parsed)]


def create_user(
    session: Session,
    *,
    actor: User | None,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    languages: list[str] | None = None,
    now: datetime,
) -> User:
    """Create an account; actor None is the CLI bootstrapping the first admin."""
    if actor is not None:
        require_role(actor, Role.ADMIN)
    name = _check_username(username)
    _check_password(password)
    langs = _check_languages(role, languages or [])
    if session.exec(select(User).where(User.username == name)).first() is not None:
        raise Conflict("username %(name)s is taken", details={"field": "username"}, params={"name": repr(name)})
    user = User(
        username=name,
        display_name=display_name.strip() or name,
        role=role,
        languages=langs,
        password_hash=_hasher.hash(password),
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", entity="user", entity_id=user.id,
                 before=None, after=audit.snapshot(user), now=now)
    return user


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def find_user(session: Session, *, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def list_users(session: Session, *, actor: User, limit: int, offset: int) -> tuple[list[User], int]:
    require_role(actor, Role.ADMIN)
    return paginate(session, select(User).order_by(col(User.username)), limit=limit, offset=offset)


def update_user(
    session: Session,
    *,
    actor: User,
    user_id: int,
    display_name: str | None = None,
    role: Role | None = None,
    languages: list[str] | None = None,
    is_active: bool | None = None,
    password: str | None = None,
    now: datetime,
) -> User:
    """Change an account; deactivating or demoting also ends its sessions and tokens."""
    require_role(actor, Role.ADMIN)
    user = get_user(session, user_id=user_id)
    before = audit.snapshot(user)
    new_role = Role(role) if role is not None else Role(user.role)
    if user.id == actor.id and (new_role != Role.ADMIN or is_active is False):
        raise Forbidden("admins cannot demote or deactivate themselves", details={"field": "role"})
    if languages is not None or role is not None:
        user.languages = _check_languages(new_role, languages if languages is not None else
                                          (user.languages if new_role == Role.TRANSLATOR else []))
    user.role = new_role
    if display_name is not None:
        user.display_name = display_name.strip() or user.username
    if password is not None:
        _check_password(password)
        user.password_hash = _hasher.hash(password)
    if is_active is not None:
        user.is_active = is_active
    if is_active is False or password is not None or role is not None:
        _end_all_sessions(session, user_id=user_id)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.update", entity="user", entity_id=user.id,
                 before=before, after=audit.snapshot(user), now=now)
    return user


def change_password(
    session: Session, *, user: User, current: str, new: str, now: datetime
) -> None:
    """Prove the old password, set the new one, and end every session (a thief's too)."""
    if not _hasher.verify(current, user.password_hash):
        raise Invalid("the current password is wrong", field="current")
    _check_password(new)
    before = audit.snapshot(user)
    user.password_hash = _hasher.hash(new)
    session.add(user)
    _end_all_sessions(session, user_id=user.id)  # type: ignore[arg-type]
    session.flush()
    audit.record(session, actor=user, action="user.password_change", entity="user", entity_id=user.id,
                 before=before, after=audit.snapshot(user), now=now)


def _end_all_sessions(session: Session, *, user_id: int) -> None:
    session.exec(delete(LoginSession).where(col(LoginSession.user_id) == user_id))


SLOWDOWN_MAX_S = 30
FAMILIAR_LOGINS = 50  # how many of an account's past logins say which addresses are its own


def _familiar(session: Session, *, user: User | None, address: str) -> bool:
    """Whether this account has logged in successfully from this address before (its own desk, its own office)."""
    if user is None:
        return False
    logins = session.exec(
        select(AuditEvent).where(AuditEvent.action == "user.login", AuditEvent.actor_id == user.id)
        .order_by(col(AuditEvent.id).desc()).limit(FAMILIAR_LOGINS)
    ).all()
    return any((event.after or {}).get("address") == address for event in logins)


def authenticate(
    session: Session, *, username: str, password: str, address: str, limits: LoginLimits, now: datetime
) -> User:
    """Check a password; lock an (account, address) pair, an address, and slow an account down everywhere else.

    Locking the account itself would let anyone lock `admin` out from anywhere. So, as the mature identity
    systems do: too many failures for this account *from this address* lock that pair for the window; too
    many from an address lock the address; and once an account has failed too often overall, addresses it
    never logged in from must wait (doubling to SLOWDOWN_MAX_S) after its last failure, which caps a
    botnet's guesses while the account's own addresses are not slowed at all.
    """
    since = now - limits.window
    recent = col(LoginAttempt.at) >= since
    pair_failures = session.exec(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.address == address, recent)).one()
    address_failures = session.exec(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.address == address, recent)).one()
    if pair_failures >= limits.max_per_account or address_failures >= limits.max_per_address:
        raise RateLimited(
            "too many failed logins; try again later",
            details={"retry_after_s": int(limits.window.total_seconds())},
        )
    user = find_user(session, username=username)
    account_failures, last_failure = session.exec(select(func.count(), func.max(LoginAttempt.at)).where(
        LoginAttempt.username == username, recent)).one()
    if account_failures >= limits.max_per_account and not _familiar(session, user=user, address=address):
        wait = min(2 ** (account_failures - limits.max_per_account), SLOWDOWN_MAX_S)
        last = last_failure if last_failure.tzinfo else last_failure.replace(tzinfo=now.tzinfo)
        left = wait - (now - last).total_seconds()
        if left > 0:
            raise RateLimited(
                "too many failed logins for this account; wait before trying again",
                details={"retry_after_s": math.ceil(left)},
            )
    valid = _hasher.verify(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not valid or not user.is_active:
        session.add(LoginAttempt(username=username[:64], address=address[:64], at=now))
        session.flush()
        raise LoginFailed("wrong username or password")
    # Only this address's failures: a success here must not wipe the trail of guesses from elsewhere.
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.username) == username,
                                            col(LoginAttempt.address) == address))
    return user


def start_session(
    session: Session, *, user: User, address: str, secret: str, ttl: timedelta, now: datetime
) -> tuple[str, LoginSession]:
    """A fresh random session id at every login, so a planted id is never promoted."""
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        token_hash=keyed_hash(secret, token),
        csrf_token=secrets.token_urlsafe(32),
        user_id=user.id,  # type: ignore[arg-type]
        created_at=now,
        expires_at=now + ttl,
        address=address[:64],
    )
    session.add(row)
    session.flush()
    audit.record(session, actor=user, action="user.login", entity="user", entity_id=user.id,
                 before=None, after={"address": address}, now=now)
    return token, row


def session_user(session: Session, *, token: str, secret: str, now: datetime) -> tuple[User, LoginSession] | None:
    """The user behind a session cookie, or None when it is unknown, expired or deactivated."""
    row = session.exec(select(LoginSession).where(LoginSession.token_hash == keyed_hash(secret, token))).first()
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return user, row


def end_session(session: Session, *, login_session: LoginSession, actor: User, now: datetime) -> None:
    """Logout deletes the row, so the cookie is worthless even if it was copied."""
    session.delete(login_session)
    session.flush()
    audit.record(session, actor=actor, action="user.logout", entity="user", entity_id=actor.id,
                 before=None, after=None, now=now)


def create_api_token(
    session: Session, *, actor: User, name: str, secret: str, now: datetime
) -> tuple[str, ApiToken]:
    """A token for automation, shown once; only its keyed hash is kept."""
    label = name.strip()
    if not label or len(label) > 100:
        raise Invalid("token name must be 1-100 characters", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=actor.id,  # type: ignore[arg-type]
        name=label,
        token_hash=keyed_hash(secret, token),
        prefix=token[:10],
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="token.create", entity="api_token", entity_id=row.id,
                 before=None, after=audit.snapshot(row), now=now)
    return token, row


def list_api_tokens(session: Session, *, actor: User, limit: int, offset: int) -> tuple[list[ApiToken], int]:
    query = select(ApiToken).where(ApiToken.user_id == actor.id).order_by(col(ApiToken.id))
    return paginate(session, query, limit=limit, offset=offset)


def revoke_api_token(session: Session, *, actor: User, token_id: int, now: datetime) -> ApiToken:
    """Revoke one's own token (admins any); revoked tokens stay listed for the record."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and actor.role != Role.ADMIN):
        raise NotFound("api token", token_id)
    if row.revoked_at is None:
        before = audit.snapshot(row)
        row.revoked_at = now
        session.add(row)
        session.flush()
        audit.record(session, actor=actor, action="token.revoke", entity="api_token", entity_id=row.id,
                     before=before, after=audit.snapshot(row), now=now)
    return row


TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)


def token_user(session: Session, *, token: str, secret: str, now: datetime,
               touch: bool = True) -> User | None:
    """The user behind a bearer token, or None when unknown, revoked or deactivated."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == keyed_hash(secret, token))).first()
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if touch:
        touch_token(session, token=row, now=now)
    return user


def token_touch_due(session: Session, *, token: str, secret: str, now: datetime) -> int | None:
    """The id of the token to mark as used, when its last mark is older than the interval."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == keyed_hash(secret, token))).first()
    if row is None or (row.last_used_at is not None and now - row.last_used_at < TOKEN_TOUCH_INTERVAL):
        return None
    return row.id


def touch_token(session: Session, *, token: ApiToken | int, now: datetime) -> None:
    """Record when a token was last used, at most every few minutes (each mark is a write)."""
    row = session.get(ApiToken, token) if isinstance(token, int) else token
    if row is None:
        return
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_INTERVAL:
        row.last_used_at = now
        session.add(row)
        session.flush()
