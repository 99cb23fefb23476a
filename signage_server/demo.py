"""Demo set-up for `scripts/run-local`: role accounts, approving imported content, issuing enrolment codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from signage_core.languages import Language
from signage_server.audit.models import AuditEvent
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.db import saved_id
from signage_server.enrolment import service as enrolment
from signage_server.errors import Forbidden, NotFound, SignageError
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.slides.models import Slide
from signage_server.users import service as users
from signage_server.users.models import Role, User


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    display_name: str
    languages: tuple[str, ...] = ()


# One account per role; two translators so English and Khmer are reviewed by different people.
DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin", Role.ADMIN, "Quản trị viên"),
    DemoAccount("operator", Role.OPERATOR, "Cán bộ vận hành"),
    DemoAccount("translator-en", Role.TRANSLATOR, "Biên dịch tiếng Anh", ("en",)),
    DemoAccount("translator-km", Role.TRANSLATOR, "Biên dịch tiếng Khmer", ("km",)),
    DemoAccount("approver", Role.APPROVER, "Lãnh đạo duyệt"),
)

# The two virtual screens of the demo: folder name under var/demo -> screen name in playlists/.
DEMO_SCREENS: dict[str, str] = {
    "loc-ninh-hoa-lu": "hoa-lu-arrivals",
    "bu-dop-hoang-dieu": "hoang-dieu-square",
}


@dataclass
class ApprovalReport:
    captions: int = 0
    slides: int = 0
    skipped: list[str] = field(default_factory=list)


def _account(session: Session, username: str) -> User:
    user = users.find_user(session, username=username)
    if user is None:
        raise NotFound("user", username)
    return user


def _reviewer_for(language: str, *, by_language: dict[str, User], approver: User) -> User:
    """Translators review their own language; Vietnamese goes to the approver, as in the real workflow."""
    return by_language.get(language, approver)


def touched_by_a_person(session: Session, slide: Slide) -> bool:
    """A person made or changed this slide (upload, new image, withdrawn approval): not the importer's to approve."""
    if slide.created_by_id is not None:
        return True
    return session.exec(select(AuditEvent.id).where(
        AuditEvent.entity == "slide", AuditEvent.entity_id == str(slide.id),
        col(AuditEvent.actor_id).is_not(None))).first() is not None


def approve_submitted(session: Session, *, dev: bool, now: datetime) -> ApprovalReport:
    """Approve what the importer wrote (submitted revisions without a human author, slides no person touched)
    as the demo accounts, four-eyes kept. Anything a person wrote or uploaded waits for a person."""
    if not dev:
        raise Forbidden("demo-approve only runs with SIGNAGE_DEV=1: it approves content without a human reading it")
    approver = _account(session, "approver")
    by_language = {lang.value: _account(session, a.username)
                   for a in DEMO_ACCOUNTS if a.role == Role.TRANSLATOR
                   for lang in (Language(code) for code in a.languages)}
    report = ApprovalReport()
    submitted = session.exec(select(CaptionRevision).where(
        CaptionRevision.state == CaptionState.SUBMITTED, col(CaptionRevision.author_id).is_(None))
        .order_by(col(CaptionRevision.slide_id), col(CaptionRevision.language))).all()
    for caption in sorted(submitted, key=lambda c: (c.slide_id, c.language != Language.VI.value)):
        reviewer = _reviewer_for(caption.language, by_language=by_language, approver=approver)
        try:
            captions.approve_caption(session, actor=reviewer, slide_id=caption.slide_id, language=caption.language,
                                     now=now)
            report.captions += 1
        except SignageError as exc:  # e.g. the reviewer wrote it: leave it for a person
            report.skipped.append(f"caption {caption.slide_id}/{caption.language}: {exc.message}")
    for slide in session.exec(select(Slide).where(col(Slide.approved_at).is_(None)).order_by(col(Slide.id))).all():
        if touched_by_a_person(session, slide):
            report.skipped.append(f"slide {slide.name}: made or changed by a person")
            continue
        if slides.publish_status(session, slide=slide).missing_languages:
            report.skipped.append(f"slide {slide.name}: captions missing")
            continue
        try:
            slides.approve_slide(session, actor=approver, slide_id=saved_id(slide), now=now)
            report.slides += 1
        except SignageError as exc:
            report.skipped.append(f"slide {slide.name}: {exc.message}")
    return report


def issue_code_for(session: Session, *, screen_name: str, secret: str, ttl: timedelta, now: datetime) -> str:
    """A one-time enrolment code for a screen named as in playlists/, issued by the first admin account."""
    screen = screens.find_screen(session, name=screen_name)
    if screen is None:
        raise NotFound("screen", screen_name)
    admin = session.exec(select(User).where(User.role == Role.ADMIN).order_by(col(User.id))).first()
    if admin is None:
        raise NotFound("admin account", "any (create one with `signage-server create-user --role admin`)")
    code, _row = enrolment.issue_code(session, actor=admin, screen_id=saved_id(screen), secret=secret, ttl=ttl, now=now)
    return code
