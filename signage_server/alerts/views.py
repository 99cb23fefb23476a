"""The urgent-alert pages: choose, confirm, watch acknowledgements arrive, withdraw (approvers only)."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from signage_server.alerts import service
from signage_server.alerts.models import Alert, AlertTemplate
from signage_server.deps import NowDep, OptionalTransportDep, SessionDep, SigningKeyDep
from signage_server.errors import SignageError
from signage_server.screens import service as screens
from signage_server.screens.models import Enrolment, Screen, ScreenGroup
from signage_server.users.models import Role
from signage_server.web import (
    PageError,
    PageUser,
    Viewer,
    error_text,
    gettext_for,
    redirect,
    render,
)

if TYPE_CHECKING:
    from signage_core.render import ScreenSpec

router = APIRouter(include_in_schema=False)
Approvers = Annotated[Viewer, PageUser(Role.APPROVER)]
# Offered durations in minutes: an alert is short-lived by design (the service caps it too).
DURATIONS = (15, 30, 60, 120, 240, 480, 1440)
REFRESH_SECONDS = 3
# What a template's alert takes on a zoned screen, as the pages say it (catalog msgids).
COVER_LABELS = {"main": "Main zone only (the information strip and ticker stay)", "full": "The whole screen"}


def _choices(session: Session) -> dict[str, Any]:
    all_screens, _n = screens.list_screens(session, limit=1000, offset=0)
    groups, _m = screens.list_groups(session, limit=1000, offset=0)
    return {"templates": service.list_templates(session), "groups": groups, "durations": DURATIONS,
            "screens": [s for s in all_screens if s.enrolment != Enrolment.REVOKED]}


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, session: SessionDep, viewer: Approvers) -> Response:
    recent = session.exec(select(Alert).order_by(col(Alert.id).desc()).limit(20)).all()
    _ = gettext_for(request)
    # The seeded templates' names are catalog msgids ("Border closure"): shown in the page's language.
    names = {t.id: _(t.name) if t.name else "" for t in service.list_templates(session)}
    return render(request, "alerts.html", viewer, recent=recent, template_names=names, text_fields=TEXT_FIELDS,
                  covers=COVER_LABELS, edits_templates=viewer.user.role == Role.ADMIN, **_choices(session))


@router.post("/alerts/templates/{template_id}/cover")
def set_cover(template_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Approvers,
              cover: Annotated[str, Form(max_length=16)] = "") -> Response:
    """Admins choose what each template's alerts cover on zoned screens; the service checks role and value."""
    _ = gettext_for(request)
    try:
        with session.begin_nested():
            service.set_cover(session, actor=viewer.user, template_id=template_id, cover=cover, now=now)
    except SignageError as exc:
        return redirect(request, "/alerts", error_text(request, exc), "error")
    return redirect(request, "/alerts", _("Saved."))


def _ids(values: list[str] | None) -> list[int]:
    return [int(v) for v in values or [] if v.isdigit()]


# The text fields of the alert form, one per screen language (blank: the template's text).
TEXT_FIELDS = (("vi", "Vietnamese"), ("en", "English"), ("km", "Khmer"))
TextField = Annotated[str, Form(max_length=4000)]


def _custom(text_vi: str, text_en: str, text_km: str) -> dict[str, str]:
    return {"vi": text_vi, "en": text_en, "km": text_km}


def _previews(session: Session, screens: list[Screen], captions: dict[str, str], cover: str,
              now: datetime) -> list[dict[str, Any]]:
    """The alert as each kind of target screen will draw it (the player's alert layout: stacked or ticker, on
    red), with the renderer's problems; screens that draw it alike share a preview. On a zoned screen a
    main-only alert sits in the main zone of the frame the player composes, the strip and ticker kept."""
    from signage_core.languages import Language
    from signage_core.screen import alert_spec, zoned_specs
    from signage_core.zones import ZonesSpec
    from signage_server.screens import zones
    from signage_server.screens.service import layout_of
    from signage_server.slides import preview

    texts = {Language(lang): text for lang, text in captions.items() if lang in {x.value for x in Language}}
    seen: dict[tuple[ScreenSpec, str], dict[str, Any]] = {}
    for screen in screens:
        stored = zones.stored(screen.zones) if cover == "main" else None
        layout = layout_of(screen)
        spec = alert_spec(layout)
        if stored is not None:
            main = zoned_specs(layout, ZonesSpec(template=stored.template)).rects.main
            spec = alert_spec(layout, (main.width, main.height))
        key = (spec, "" if stored is None else f"{screen.width_px}x{screen.height_px} {stored.model_dump_json()}")
        if key in seen:
            seen[key]["screens"].append(screen)
            continue
        if stored is None:
            png = preview.render_png(spec, texts, None)
        else:
            picture = preview.slide_frame(spec, texts, None)
            # The player leaves the ticker zone dark under a main-zone alert unless a ticker playlist runs.
            ticker = None
            if stored.ticker_playlist_id is not None:
                ticker = zones.ticker_message(session, screen) or zones.TICKER_LABELS
            frame = zones.composed(screen, stored.template, picture, now=now, widgets=stored.widgets,
                                   ticker_captions=ticker)
            out = io.BytesIO()
            frame.save(out, format="PNG")
            png = out.getvalue()
        seen[key] = {"screens": [screen], "width": screen.width_px, "height": screen.height_px,
                     "zoned": stored is not None,
                     "src": "data:image/png;base64," + base64.b64encode(png).decode(),
                     "problems": preview.problems(spec, texts, has_image=False)}
    return list(seen.values())


@router.post("/alerts/confirm", response_class=HTMLResponse)
def confirm(request: Request, session: SessionDep, now: NowDep, viewer: Approvers,
            template_id: Annotated[int, Form()], minutes: Annotated[int, Form()],
            screen_ids: Annotated[list[str] | None, Form()] = None,
            group_ids: Annotated[list[str] | None, Form()] = None,
            text_vi: TextField = "", text_en: TextField = "", text_km: TextField = "") -> Response:
    """The confirm step: what exactly goes out (the text as each target screen draws it), to whom and until
    when, before anything is signed."""
    _ = gettext_for(request)
    template = session.get(AlertTemplate, template_id)
    chosen_screens, chosen_groups = _ids(screen_ids), _ids(group_ids)
    if template is None:
        return redirect(request, "/alerts", _("Choose an alert template."), "error")
    if minutes not in DURATIONS:
        return redirect(request, "/alerts", _("Choose how long the alert stays up."), "error")
    if not chosen_screens and not chosen_groups:
        return redirect(request, "/alerts", _("Choose at least one screen or group."), "error")
    names = [s.label for s in session.exec(select(Screen).where(col(Screen.id).in_(chosen_screens)))]
    group_names = [g.label for g in session.exec(select(ScreenGroup).where(col(ScreenGroup.id).in_(chosen_groups)))]
    custom = _custom(text_vi, text_en, text_km)
    try:
        captions = service.alert_captions(template, custom)
        targets = service.target_screens(session, group_ids=chosen_groups, screen_ids=chosen_screens)
    except SignageError as exc:
        return redirect(request, "/alerts", error_text(request, exc), "error")
    return render(request, "alert_confirm.html", viewer, alert_template=template, minutes=minutes,
                  screen_ids=chosen_screens, group_ids=chosen_groups, screen_names=names, group_names=group_names,
                  expires_at=now + timedelta(minutes=minutes), captions=captions, custom=custom,
                  previews=_previews(session, targets, captions, template.cover, now), text_fields=TEXT_FIELDS,
                  cover_label=COVER_LABELS.get(template.cover, template.cover))


@router.post("/alerts/launch")
def launch(request: Request, session: SessionDep, now: NowDep, viewer: Approvers, transport: OptionalTransportDep,
           key: SigningKeyDep,
           template_id: Annotated[int, Form()], minutes: Annotated[int, Form()],
           screen_ids: Annotated[list[str] | None, Form()] = None,
           group_ids: Annotated[list[str] | None, Form()] = None,
           text_vi: TextField = "", text_en: TextField = "", text_km: TextField = "") -> Response:
    _ = gettext_for(request)
    if transport is None:
        return redirect(request, "/alerts", _("Alerts need the MQTT broker, which this server runs without."), "error")
    if minutes not in DURATIONS:
        return redirect(request, "/alerts", _("Choose how long the alert stays up."), "error")
    try:
        with session.begin_nested():
            alert = service.launch(session, actor=viewer.user, template_id=template_id, group_ids=_ids(group_ids),
                                   screen_ids=_ids(screen_ids), expires_at=now + timedelta(minutes=minutes),
                                   key=key, publisher=transport, now=now,
                                   captions=_custom(text_vi, text_en, text_km))
    except SignageError as exc:
        return redirect(request, "/alerts", error_text(request, exc), "error")
    return redirect(request, f"/alerts/{alert.id}", _("Alert sent."))


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Approvers) -> Response:
    """Refreshes itself (meta refresh, no script) while acknowledgements can still arrive."""
    try:
        report = service.report(session, alert_id=alert_id, now=now)
    except SignageError:
        raise PageError(404, gettext_for(request)("No such alert.")) from None
    confirmed = sum(1 for target, _s in report.targets if target.acked_at is not None)
    return render(request, "alert.html", viewer, report=report, confirmed=confirmed,
                  refresh=REFRESH_SECONDS if report.state == "active" and confirmed < len(report.targets) else None)


@router.post("/alerts/{alert_id}/withdraw")
def withdraw(alert_id: int, request: Request, session: SessionDep, now: NowDep, viewer: Approvers,
             transport: OptionalTransportDep, key: SigningKeyDep) -> Response:
    _ = gettext_for(request)
    if transport is None:
        return redirect(request, f"/alerts/{alert_id}",
                        _("Alerts need the MQTT broker, which this server runs without."), "error")
    try:
        with session.begin_nested():
            service.withdraw(session, actor=viewer.user, alert_id=alert_id, key=key,
                             publisher=transport, now=now)
    except SignageError as exc:
        return redirect(request, f"/alerts/{alert_id}", error_text(request, exc), "error")
    return redirect(request, f"/alerts/{alert_id}", _("Alert withdrawn."))
