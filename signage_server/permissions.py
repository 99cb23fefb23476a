"""Role checks used by every service: the service layer, not the page, decides who may act."""

from __future__ import annotations

from signage_core.languages import Language
from signage_server.errors import Forbidden
from signage_server.users.models import Role, User


def require_role(actor: User, *roles: Role) -> None:
    """Refuse unless the actor holds one of the roles (admins hold every role)."""
    if actor.role == Role.ADMIN or actor.role in roles:
        return
    allowed = ", ".join(role.value for role in roles)
    raise Forbidden(
        "%(user)s is %(role)s; this needs %(allowed)s",
        details={"role": str(actor.role), "allowed": [role.value for role in roles]},
        params={"user": actor.username, "role": str(actor.role), "allowed": allowed},
    )


def can_write_language(actor: User, language: Language) -> bool:
    """Operators write Vietnamese, translators their own languages; admins any."""
    if actor.role == Role.ADMIN:
        return True
    if language == Language.VI:
        return actor.role == Role.OPERATOR
    return actor.role == Role.TRANSLATOR and language.value in actor.languages


def can_review_language(actor: User, language: Language) -> bool:
    """Translators approve their languages; approvers and admins approve any caption."""
    if actor.role in (Role.ADMIN, Role.APPROVER):
        return True
    return actor.role == Role.TRANSLATOR and language != Language.VI and language.value in actor.languages
