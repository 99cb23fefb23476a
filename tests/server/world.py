"""A small, realistic data set built through the services, for the API tests."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import Session

from player_agent.enrol import EnrolAnswer, apply_enrolment
from signage_server.captions import service as captions
from signage_server.playlists import service as playlists
from signage_server.schedules import service as schedules
from signage_server.screens import service as screens
from signage_server.slides import service as slides
from signage_server.users.models import Role, User
from signage_server.users.service import create_api_token

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
ROLES: dict[str, tuple[Role, list[str]]] = {
    "admin": (Role.ADMIN, []),
    "operator": (Role.OPERATOR, []),
    "operator2": (Role.OPERATOR, []),
    "translator": (Role.TRANSLATOR, ["en", "km"]),
    "translator_en": (Role.TRANSLATOR, ["en"]),
    "approver": (Role.APPROVER, []),
    "approver2": (Role.APPROVER, []),
}


def add_users(session: Session, *, password_hash: str, secret: str, now: datetime) -> tuple[dict[str, User], dict[str, str]]:
    """An account for every role in ROLES (flushed, not committed) and an API token for each."""
    users: dict[str, User] = {}
    tokens: dict[str, str] = {}
    for username, (role, langs) in ROLES.items():
        user = User(username=username, display_name=username.title(), role=role, languages=langs,
                    password_hash=password_hash, created_at=now)
        session.add(user)
        session.flush()
        users[username] = user
        tokens[username], _row = create_api_token(session, actor=user, name="tests", secret=secret, now=now)
    return users, tokens


def png(width: int = 16, height: int = 8, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


def build_world(session: Session, users: dict[str, User]) -> dict[str, int]:
    """Sites, screens, slides in every caption state, playlists and a schedule; returns their ids."""
    admin, operator, translator = users["admin"], users["operator"], users["translator"]
    approver = users["approver"]
    ids: dict[str, int] = {}
    site = screens.create_site(session, actor=admin, slug="loc-ninh-hoa-lu", name="Lộc Ninh – Hoa Lư", now=NOW)
    empty_site = screens.create_site(session, actor=admin, slug="empty", name="Empty", now=NOW)
    group = screens.create_group(session, actor=admin, name="hoa-lu-all", now=NOW)
    empty_group = screens.create_group(session, actor=admin, name="unused", now=NOW)

    ready = slides.create_slide(session, actor=operator, name="welcome", now=NOW)
    for lang, text, writer in (("vi", "Chào mừng quý khách đến với Việt Nam", operator),
                               ("en", "Welcome to Viet Nam", translator),
                               ("km", "សូមស្វាគមន៍មកកាន់ប្រទេសវៀតណាម", translator)):
        captions.write_caption(session, actor=writer, slide_id=ready.id, language=lang, text=text, submit=True, now=NOW)
    captions.approve_caption(session, actor=approver, slide_id=ready.id, language="vi", now=NOW)
    captions.approve_caption(session, actor=users["translator_en"], slide_id=ready.id, language="en", now=NOW)
    captions.approve_caption(session, actor=approver, slide_id=ready.id, language="km", now=NOW)

    pending = slides.create_slide(session, actor=operator, name="traffic", now=NOW)
    captions.write_caption(session, actor=operator, slide_id=pending.id, language="vi",
                           text="Đề nghị quý khách chấp hành nghiêm quy định", submit=True, now=NOW)
    draft = slides.create_slide(session, actor=operator, name="draft", now=NOW)
    captions.write_caption(session, actor=operator, slide_id=draft.id, language="vi", text="Bản nháp", now=NOW)
    free = slides.create_slide(session, actor=operator, name="free", now=NOW)

    playlist = playlists.create_playlist(
        session, actor=operator, name="hoa-lu-main",
        items=[playlists.ItemSpec(slide_id=ready.id, duration_s=10), playlists.ItemSpec(slide_id=pending.id, duration_s=8)],
        now=NOW)
    empty_playlist = playlists.create_playlist(session, actor=operator, name="empty", now=NOW)
    screen = screens.create_screen(session, actor=admin, fields={
        "site_id": site.id, "name": "hoa-lu-arrivals", "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
        "languages": ["vi", "en", "km"], "default_playlist_id": playlist.id, "group_ids": [group.id]}, now=NOW)
    spare = screens.create_screen(session, actor=admin, fields={
        "site_id": site.id, "name": "hoa-lu-spare", "width_px": 960, "height_px": 160, "pixel_pitch_mm": 10.0,
        "layout": "ticker", "languages": ["vi"]}, now=NOW)
    schedule = schedules.create_schedule(session, actor=operator, fields={
        "name": "weekday", "playlist_id": playlist.id, "priority": 1, "rule": {"weekdays": [0, 1, 2, 3, 4]}},
        screen_ids=[screen.id], group_ids=[group.id], now=NOW)
    session.commit()
    for key, row in (("site", site), ("empty_site", empty_site), ("group", group), ("empty_group", empty_group),
                     ("slide", ready), ("pending_slide", pending), ("draft_slide", draft), ("free_slide", free),
                     ("playlist", playlist), ("empty_playlist", empty_playlist), ("screen", screen),
                     ("spare_screen", spare), ("schedule", schedule)):
        ids[key] = row.id  # type: ignore[assignment]
    return ids


def seed_world(engine: Engine, *, password_hash: str, secret: str, now: datetime,
               approve_slide: bool = False) -> tuple[dict[str, str], dict[str, int]]:
    """Every role's account and token, then build_world, committed; the welcome slide approved if asked.

    Returns (API token per username, the world's ids), for tests that run the whole app on their own database.
    """
    with Session(engine, expire_on_commit=False) as session:
        users, tokens = add_users(session, password_hash=password_hash, secret=secret, now=now)
        session.commit()
        ids = build_world(session, users)
        if approve_slide:  # the world's playlist then has content to publish
            slides.approve_slide(session, actor=users["approver"], slide_id=ids["slide"], now=now)
            session.commit()
    return tokens, ids


def enrol_player(client: Any, token: str, ids: dict[str, int], state_root: Path, *,
                 layout: str | None = None, languages: tuple[str, ...] = ("vi", "en", "km")) -> Path:
    """A new screen on the world's site showing its published playlist, enrolled through the API as an
    installer would; returns the player's state dir (named after the screen, under state_root)."""
    headers = {"Authorization": f"Bearer {token}"}
    body: dict[str, Any] = {"site_id": ids["site"], "name": f"gate-{uuid.uuid4().hex[:6]}", "width_px": 768,
                            "height_px": 384, "pixel_pitch_mm": 5, "languages": list(languages),
                            "default_playlist_id": ids["playlist"]}
    if layout is not None:
        body["layout"] = layout
    r = client.post("/api/v1/screens", json=body, headers=headers)
    assert r.status_code == 201, r.text
    screen_id = r.json()["id"]
    r = client.post(f"/api/v1/screens/{screen_id}/enrolment-code", headers=headers)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/enrol", json={"code": r.json()["code"], "agent_version": "0.1.0"})
    assert r.status_code == 200, r.text
    state_dir = state_root / f"player-{screen_id}"
    apply_enrolment(state_dir, EnrolAnswer.model_validate(r.json()), now=datetime.now(UTC))
    return state_dir
