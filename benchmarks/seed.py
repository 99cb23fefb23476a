"""The fleet benchmarks build before they measure: one site of screens, made through the screens service."""

from __future__ import annotations

import time
from datetime import datetime

from sqlmodel import Session, select

from signage_server.db import saved_id
from signage_server.screens import service as screens
from signage_server.users.models import Role, User


def bench_screens(session: Session, n: int, *, now: datetime) -> list[int]:
    """Ids of n new screens on a new site; the admin is reused, so a benchmark may run twice on one database."""
    admin = session.exec(select(User).where(User.username == "bench-admin")).first()
    if admin is None:
        admin = User(username="bench-admin", display_name="B", role=Role.ADMIN, languages=[],
                     password_hash="!", created_at=now)  # noqa: S106 - not a hash: no login
        session.add(admin)
        session.flush()
    site = screens.create_site(session, actor=admin, slug=f"bench-{time.time_ns()}", name="Bench", now=now)
    return [saved_id(screens.create_screen(session, actor=admin, fields={
        "site_id": site.id, "name": f"bench-{site.id}-{i:05d}", "width_px": 192, "height_px": 96,
        "pixel_pitch_mm": 5, "languages": ["vi"]}, now=now)) for i in range(n)]
