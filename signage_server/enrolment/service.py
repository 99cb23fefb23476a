"""One-time enrolment codes: an admin issues one per screen, a player trades it once for its credentials."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from signage_server.audit import service as audit
from signage_server.enrolment.models import EnrolmentAttempt, EnrolmentCode
from signage_server.errors import Conflict, RateLimited, SignageError
from signage_server.permissions import require_role
from signage_server.screens import service as screens
from signage_server.screens.models import Enrolment, Screen
from signage_server.users.models import Role, User

# No 0/O/1/I: codes are read off a laptop and typed on a cabinet's keyboard.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_GROUPS = 4
GROUP_LENGTH = 4


class EnrolmentFailed(SignageError):
    """A refused code; the failed attempt is kept (keep_changes) so guessing is rate-limited."""

    keep_changes = True


class EnrolmentCodeInvalid(EnrolmentFailed):
    status_code = 400
    code = "enrolment_code_invalid"


class EnrolmentCodeUsed(EnrolmentFailed):
    status_code = 409
    code = "enrolment_code_used"


class EnrolmentCodeExpired(EnrolmentFailed):
    status_code = 410
    code = "enrolment_code_expired"


@dataclass(frozen=True, slots=True)
class EnrolLimits:
    window: timedelta
    max_failures_per_address: int


def new_code() -> str:
    """80 random bits in four groups of four: short enough to type, far too many to guess under the rate limit."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_GROUPS * GROUP_LENGTH))
    return "-".join(raw[i : i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_code(code: str, *, secret: str) -> str:
    """Keyed hash of the normalised code; spaces, dashes and case do not matter when typing it."""
    return hmac.new(secret.encode(), _normalise(code).encode(), hashlib.sha256).hexdigest()


def issue_code(
    session: Session, *, actor: User, screen_id: int, secret: str, ttl: timedelta, now: datetime
) -> tuple[str, EnrolmentCode]:
    """A fresh code for a screen, voiding any unused one; the plain code is returned once and never stored."""
    require_role(actor, Role.ADMIN)
    screen = screens.get_screen(session, screen_id=screen_id)
    if screen.enrolment == Enrolment.REVOKED:
        raise Conflict("a revoked screen cannot enrol again; create a new screen", details={"field": "screen_id"})
    for old in session.exec(select(EnrolmentCode).where(
            EnrolmentCode.screen_id == screen_id, col(EnrolmentCode.used_at).is_(None),
            col(EnrolmentCode.voided_at).is_(None))).all():
        old.voided_at = now
        session.add(old)
    code = new_code()
    row = EnrolmentCode(screen_id=screen_id, code_hash=hash_code(code, secret=secret), created_at=now,
                        expires_at=now + ttl, created_by=actor.id)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="enrolment.code_issue", entity="screen", entity_id=screen_id,
                 before=None, after={"code_id": row.id, "expires_at": row.expires_at.isoformat()}, now=now)
    return code, row


def _refuse(session: Session, error: EnrolmentFailed, *, address: str, now: datetime) -> EnrolmentFailed:
    session.add(EnrolmentAttempt(address=address[:64], at=now))
    session.flush()
    return error


def redeem_code(
    session: Session, *, code: str, address: str, agent_version: str, secret: str, limits: EnrolLimits,
    now: datetime,
) -> Screen:
    """Check and consume a code, marking the screen enrolled; every refusal leaves the code as it was."""
    failures = session.exec(select(func.count()).select_from(EnrolmentAttempt).where(
        EnrolmentAttempt.address == address[:64], col(EnrolmentAttempt.at) >= now - limits.window)).one()
    if failures >= limits.max_failures_per_address:
        raise RateLimited("too many wrong enrolment codes from this address; try again later",
                          details={"retry_after_s": int(limits.window.total_seconds())})
    row = session.exec(select(EnrolmentCode).where(EnrolmentCode.code_hash == hash_code(code, secret=secret))).first()
    if row is None:
        raise _refuse(session, EnrolmentCodeInvalid("unknown enrolment code; check it or ask for a new one"),
                      address=address, now=now)
    if row.used_at is not None:
        raise _refuse(session, EnrolmentCodeUsed(
            f"this enrolment code was already used at {row.used_at.isoformat()}; ask an admin for a new one",
            details={"used_at": row.used_at}), address=address, now=now)
    if row.voided_at is not None:
        raise _refuse(session, EnrolmentCodeInvalid(
            "this enrolment code was replaced by a newer one; use the newest code"), address=address, now=now)
    if now >= row.expires_at:
        raise _refuse(session, EnrolmentCodeExpired(
            f"this enrolment code expired at {row.expires_at.isoformat()}; ask an admin for a new one",
            details={"expired_at": row.expires_at}), address=address, now=now)
    screen = screens.get_screen(session, screen_id=row.screen_id)
    if screen.enrolment == Enrolment.REVOKED:
        raise Conflict("this screen was revoked; it cannot enrol again", details={"screen_id": screen.id})
    # Already enrolled: a new box takes the screen over and the old one is cut off (TransportService.enrol_account).
    reenrolment = screen.enrolment == Enrolment.ENROLLED
    row.used_at, row.used_from = now, address[:64]
    session.add(row)
    session.flush()
    screens.set_enrolment(session, actor=None, screen_id=row.screen_id, state=Enrolment.ENROLLED, now=now)
    audit.record(session, actor=None, action="enrolment.code_use", entity="screen", entity_id=row.screen_id,
                 before=None, after={"code_id": row.id, "address": address[:64], "agent_version": agent_version[:64],
                                     "reenrolment": reenrolment}, now=now)
    return screen
