"""Server path of the manifest compiler: compile_screens over a SQLite database built through the services."""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluator import make_rules
from sqlmodel import Session

from signage_core.signing import SigningKey
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionState
from signage_server.db import make_engine, upgrade_to_head
from signage_server.manifests import service as manifests
from signage_server.playlists import service as playlists
from signage_server.schedules import service as schedules
from signage_server.screens import service as screens
from signage_server.slides import service as slides

GROUPS = 20
NOW = datetime(2026, 2, 10, 3, tzinfo=UTC)


def build(session: Session, n_screens: int, n_rules: int) -> None:
    """41 playlists of 4 approved trilingual slides; screens in 20 groups, each group n_rules schedules."""
    site = screens.create_site(session, actor=None, slug="bench", name="bench", now=NOW)
    groups = [screens.create_group(session, actor=None, name=f"g{i}", now=NOW) for i in range(GROUPS)]
    lists = []
    for i in range(41):
        items = []
        for j in range(4):
            slide = slides.create_slide(session, actor=None, name=f"s{i}-{j}", now=NOW)
            for lang, text in (("vi", f"Chào mừng {i}.{j}"), ("en", f"Welcome {i}.{j}"), ("km", "សូមស្វាគមន៍")):
                caption = captions.write_caption(session, actor=None, slide_id=slide.id, language=lang, text=text,
                                                 now=NOW)
                caption.state = CaptionState.APPROVED  # the approval workflow is not what is measured here
                session.add(caption)
            slide.approved_at = NOW
            session.add(slide)
            items.append(playlists.ItemSpec(slide_id=slide.id, duration_s=8))  # type: ignore[arg-type]
        lists.append(playlists.create_playlist(session, actor=None, name=f"p{i}", items=items, now=NOW))
    for n in range(n_screens):
        screens.create_screen(session, actor=None, fields={
            "site_id": site.id, "name": f"screen-{n}", "width_px": 768, "height_px": 384, "pixel_pitch_mm": 5.0,
            "languages": ["vi", "en", "km"], "default_playlist_id": lists[0].id,
            "group_ids": [groups[n % GROUPS].id]}, now=NOW)
    rng = random.Random(3)
    for g in range(GROUPS):
        for k, rule in enumerate(make_rules(n_rules, rng)):
            schedules.create_schedule(session, actor=None, fields={
                "name": f"r{g}-{k}", "playlist_id": lists[int(rule.playlist_id.split("-")[1])].id,
                "priority": rule.priority, "rule": rule.model_dump(mode="json", exclude={"id", "playlist_id",
                                                                                         "priority"})},
                group_ids=[groups[g].id], now=NOW)  # type: ignore[list-item]
    session.commit()


def main() -> None:
    n_screens = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    n_rules = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='compile-bench-')}/bench.db")
    upgrade_to_head(engine)
    with Session(engine, expire_on_commit=False) as session:
        build(session, n_screens, n_rules)
    key = SigningKey.generate()
    with Session(engine, expire_on_commit=False) as session:
        ids = manifests.all_screen_ids(session)
        t0 = time.perf_counter()
        first = manifests.compile_screens(session, screen_ids=ids, key=key, now=NOW)
        session.commit()
        t1 = time.perf_counter()
        again = manifests.compile_screens(session, screen_ids=ids, key=key, now=NOW)
        session.commit()
        t2 = time.perf_counter()
    print(f"server compile_screens, {n_screens} screens x {n_rules} scheduled items ({GROUPS} groups), SQLite")
    print(f"first compile:      {t1 - t0:6.2f} s, {sum(r.new_version for r in first)} new versions "
          f"({(t1 - t0) / n_screens * 1000:.0f} ms per screen)")
    print(f"unchanged recompile: {t2 - t1:6.2f} s, {sum(r.new_version for r in again)} new versions "
          f"({(t2 - t1) / n_screens * 1000:.0f} ms per screen)")


if __name__ == "__main__":
    main()
