"""The shared frame of the HTML pages: who is looking, their menu, language, flashes and CSRF."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from sqlmodel import Session

from signage_core.languages import language_name
from signage_core.render import Script, default_registry
from signage_server.deps import (
    CSRF_HEADER,
    SESSION_COOKIE,
    NowDep,
    SessionDep,
    app_settings,
    secret_key,
    templates,
)
from signage_server.errors import SignageError
from signage_server.i18n import available_locales, pick_locale, translations
from signage_server.i18n.errors import describe as describe_error
from signage_server.reports import formatting
from signage_server.users import service as users
from signage_server.users.models import LoginSession, Role, User

LANG_COOKIE = "signage_lang"
FLASH_COOKIE = "signage_flash"
# What a refused form had typed, carried across the redirect like a flash (signed), shown once.
KEPT_COOKIE = "signage_kept"
_NEVER_KEPT = frozenset({"csrf_token", "password", "new_password", "current_password"})
_KEPT_MAX_BYTES = 3000
LOCALE_NAMES = {"vi": "Tiếng Việt", "en": "English", "km": "ខ្មែរ"}

# (path, label, roles allowed); admins see everything.
MENU: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    ("/dashboard", "Dashboard", (Role.OPERATOR, Role.TRANSLATOR, Role.APPROVER)),
    ("/slides", "Slides", (Role.OPERATOR, Role.TRANSLATOR, Role.APPROVER)),
    ("/playlists", "Playlists", (Role.OPERATOR,)),
    ("/schedules", "Schedules", (Role.OPERATOR,)),
    ("/translate", "Translation queue", (Role.TRANSLATOR,)),
    ("/approve", "Approval", (Role.APPROVER,)),
    ("/alerts", "Urgent alert", (Role.APPROVER,)),
    ("/audit", "Audit log", (Role.APPROVER,)),
    ("/reports", "Reports", (Role.OPERATOR, Role.APPROVER, Role.TRANSLATOR)),
    ("/users", "Users", ()),
    ("/screens", "Screens", ()),
    ("/groups", "Screen groups", (Role.OPERATOR,)),
    ("/feeds", "Data feeds", ()),
)


class LoginRedirect(Exception):
    """A page needs a logged-in user: send the browser to the login form, then back."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageError(Exception):
    """A page-level refusal (wrong role, unknown object) shown as a page, not JSON."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def login_redirect(next_url: str) -> RedirectResponse:
    """To the login form, then back to where the browser was going."""
    return RedirectResponse("/login?next=" + quote(next_url, safe=""), status_code=303)


@dataclass(frozen=True)
class Viewer:
    user: User
    login_session: LoginSession

    @property
    def csrf_token(self) -> str:
        return self.login_session.csrf_token


def allowed(user: User, roles: tuple[Role, ...]) -> bool:
    return user.role == Role.ADMIN or user.role in roles


def locale_of(request: Request) -> str:
    return pick_locale(request.cookies.get(LANG_COOKIE))


def gettext_for(request: Request) -> Callable[[str], str]:
    return translations(locale_of(request)).gettext


def _viewer(request: Request, session: Session, now: Any) -> Viewer:
    cookie = request.cookies.get(SESSION_COOKIE)
    found = users.session_user(session, token=cookie, secret=secret_key(request), now=now) if cookie else None
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRedirect(target)
    return Viewer(user=found[0], login_session=found[1])


async def _check_csrf(request: Request, viewer: Viewer) -> None:
    """Forms carry csrf_token, scripts the X-CSRF-Token header; either must match the session's."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent:
        form = await request.form()
        value = form.get("csrf_token", "")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent.encode(), viewer.csrf_token.encode()):
        raise PageError(403, gettext_for(request)("The form expired or was not sent from this site; "
                                                  "reload the page and try again."))


def PageUser(*roles: Role) -> Any:
    """Depends() for a page: logged in (else redirect), holding a role, CSRF-checked on writes."""

    async def dependency(request: Request, session: SessionDep, now: NowDep) -> Viewer:
        viewer = _viewer(request, session, now)
        if roles and not allowed(viewer.user, roles):
            raise PageError(403, gettext_for(request)("Your role may not open this page."))
        if request.method not in ("GET", "HEAD"):
            await _check_csrf(request, viewer)
        return viewer

    return Depends(dependency)


AnyViewer = Annotated[Viewer, PageUser()]


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def flash(request: Request, response: Response, message: str, level: str = "info") -> None:
    flash_all(request, response, [(level, message)])


def flash_all(request: Request, response: Response, messages: list[tuple[str, str]]) -> None:
    """Carry messages across the redirect in a signed cookie, so nobody can plant one."""
    pending = (_read_flashes(request) + messages)[-20:]
    payload = base64.urlsafe_b64encode(json.dumps(pending).encode()).decode()
    response.set_cookie(FLASH_COOKIE, payload + "." + _sign(secret_key(request), payload.encode()),
                        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")


def _read_flashes(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, signature = raw.rpartition(".")
    if not payload or not hmac.compare_digest(signature, _sign(secret_key(request), payload.encode())):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return []
    return [(str(level), str(msg)) for level, msg in items][:20]


def redirect(request: Request, url: str, message: str | None = None, level: str = "info",
             keep: dict[str, Any] | None = None) -> RedirectResponse:
    """303 to url with a flash; `keep` (a refused form's typed values) refills that form on the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        flash(request, response, message, level)
    if keep:
        _keep_form(request, response, keep)
    return response


def _keep_form(request: Request, response: Response, values: dict[str, Any]) -> None:
    """Strings and lists of strings, never passwords; a form too big for a cookie is not kept."""
    kept = {k: ([str(x) for x in v] if isinstance(v, list) else str(v)) for k, v in values.items()
            if k not in _NEVER_KEPT and v is not None}
    payload = base64.urlsafe_b64encode(json.dumps(kept, ensure_ascii=False).encode()).decode()
    if len(payload) > _KEPT_MAX_BYTES:
        return
    response.set_cookie(KEPT_COOKIE, payload + "." + _sign(secret_key(request), payload.encode()),
                        httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")


def _read_kept(request: Request) -> dict[str, Any]:
    raw = request.cookies.get(KEPT_COOKIE, "")
    payload, _, signature = raw.rpartition(".")
    if not payload or not hmac.compare_digest(signature, _sign(secret_key(request), payload.encode())):
        return {}
    try:
        found = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def error_text(request: Request, exc: SignageError) -> str:
    """A domain error as the page shows it, in the page's language (the one mapping layer: i18n.errors)."""
    return describe_error(exc, locale_of(request))


def local_zone(request: Request) -> ZoneInfo:
    """The deployment's zone (setting `timezone`): the one every time shown to a person is in."""
    return zone_named(app_settings(request).timezone)


@cache
def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Ho_Chi_Minh")


def local_time(zone: ZoneInfo, value: datetime | str | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A stored instant (aware, naive UTC as the database gives it back, or ISO text) as local wall time."""
    if value is None or value == "":
        return ""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone).strftime(fmt)


def zone_label(zone: ZoneInfo, at: datetime) -> str:
    """'Asia/Ho_Chi_Minh, UTC+07:00': how a page names its zone once."""
    offset = at.astimezone(zone).strftime("%z")
    return f"{zone.key}, UTC{offset[:3]}:{offset[3:]}"


def named(thing: Any) -> Markup:
    """A screen, group or playlist as people read it: its display name, the identifier as a small hint."""
    label = getattr(thing, "display_name", "") or thing.name
    if label == thing.name:
        return escape(label)
    return escape(label) + Markup(' <small class="slug">') + escape(thing.name) + Markup("</small>")


@pass_context
def language_names(context: Context, codes: Any) -> str:
    """Language codes as a person reads them ("vi, km" -> "Tiếng Việt, Tiếng Khmer") in the page's
    locale (Vietnamese in macros imported without context); an unconfigured code is shown as is."""
    locale = context.get("locale") or "vi"
    return ", ".join(language_name(str(code), locale) for code in ([codes] if isinstance(codes, str) else codes))


def headline(text: str | None, limit: int = 60) -> str:
    """A caption as a page title: its first `limit` characters, cut at a space, with an ellipsis."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut.rstrip(" ,.;:–-") + "…"


def render(request: Request, template: str, viewer: Viewer | None, status_code: int = 200,
           **values: Any) -> HTMLResponse:
    """Render a page inside the frame; flashes shown here are consumed."""
    _ = gettext_for(request)
    zone = local_zone(request)
    menu = [(path, _(label)) for path, label, roles in MENU if viewer is not None and allowed(viewer.user, roles)]
    context = {
        "_": _,
        "viewer": viewer,
        "user": viewer.user if viewer else None,
        "csrf_token": viewer.csrf_token if viewer else "",
        "menu": menu,
        "current_path": request.url.path,
        "flashes": _read_flashes(request),
        "kept": _read_kept(request),
        "locale": locale_of(request),
        "locales": [(code, LOCALE_NAMES.get(code, code)) for code in available_locales()],
        "local": lambda value, fmt="%d/%m/%Y %H:%M": local_time(zone, value, fmt),
        "zone_label": zone_label(zone, datetime.now(UTC)),
        "here": quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&"),
        **values,
    }
    response: HTMLResponse = templates(request).TemplateResponse(
        request, template, context, status_code=status_code)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    if request.cookies.get(KEPT_COOKIE):
        response.delete_cookie(KEPT_COOKIE, path="/")
    return response


def webfont(name: str) -> Response:
    """The renderer's fonts served to the browser: Khmer, Lao, Thai show on PCs without them, no CDN needed."""
    chain = default_registry().chains.get(Script(name)) if name.isalpha() else None
    face = chain[0] if chain else None
    # A .ttc collection (the CJK fonts, 20 MB and more) is not a web font; PCs have Chinese fonts.
    if face is None or face.path.suffix.lower() not in (".ttf", ".otf"):
        return Response(status_code=404)
    return FileResponse(face.path, media_type="font/ttf", headers={"Cache-Control": "public, max-age=86400"})


@cache
def _favicon_bytes() -> bytes:
    """A small LED panel (amber dots on a dark board), drawn once: no file to ship, no CDN."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((1, 5, 30, 26), radius=3, fill=(27, 31, 36, 255))
    for x in range(5, 28, 5):
        for y in range(9, 24, 5):
            draw.ellipse((x - 1, y - 1, x + 1, y + 1), fill=(255, 176, 32, 255))
    out = io.BytesIO()
    image.save(out, format="ICO", sizes=[(32, 32), (16, 16)])
    return out.getvalue()


def favicon() -> Response:
    return Response(_favicon_bytes(), media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})


def register(app: FastAPI) -> None:
    """Pages answer a missing login with a redirect and refusals with a page."""
    app.add_api_route("/webfonts/{name}", webfont, methods=["GET"], include_in_schema=False)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    # A global, so imported macros (schedule fields, status rows) can use it too.
    app.state.templates.env.globals["named"] = named
    # Numbers as a Vietnamese reads them ("1.234,5"): reports.formatting, the reports' own rule.
    app.state.templates.env.filters["num"] = formatting.number
    app.state.templates.env.filters["languages"] = language_names
    app.state.templates.env.filters["headline"] = headline

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRedirect)  # noqa: S101 (registered for this type only)
        return login_redirect(exc.next_url)

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)  # noqa: S101
        return render(request, "error.html", None, status_code=exc.status_code, message=exc.message)

    app.add_exception_handler(LoginRedirect, to_login)
    app.add_exception_handler(PageError, page_error)
