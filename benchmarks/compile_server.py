"""Server path of the manifest compiler: compile_screens over a SQLite database built through the services."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluator import make_rules
from sqlmodel import Session

from signage_core.signing import SigningKey
from signage_server import typesetting
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionState
from signage_server.db import make_engine, upgrade_to_head
from signage_server.manifests import service as manifests
from signage_server.playlists import service as playlists
from signage_server.schedules import service as schedules
from signage_server.screens import service as screens
from signage_server.slides import service as slides

GROUPS = 20
T = TypeVar("T")
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("screens", type=int, nargs="?", default=200)
    parser.add_argument("items", type=int, nargs="?", default=300)
    parser.add_argument("--database-url", default=None,
                        help="an EMPTY database to build in (e.g. postgresql+psycopg://postgres@127.0.0.1/bench); "
                             "default: a new SQLite file")
    args = parser.parse_args()
    n_screens, n_rules = args.screens, args.items
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='compile-bench-')}/bench.db"
    engine = make_engine(url)
    upgrade_to_head(engine)
    with Session(engine, expire_on_commit=False) as session:
        build(session, n_screens, n_rules)
    key = SigningKey.generate()
    # The server loads the word segmenters at start (typesetting.warm, in the background): not a compile's cost.
    _, warm_wall, _ = timed(typesetting.warm)
    with Session(engine, expire_on_commit=False) as session:
        ids = manifests.all_screen_ids(session)
        first, first_wall, first_cpu = timed(lambda: compile_and_commit(session, ids, key))
        again, again_wall, again_cpu = timed(lambda: compile_and_commit(session, ids, key))
    sample = ids[:NAIVE_SAMPLE]
    with Session(engine, expire_on_commit=False) as session:
        _, naive_wall, naive_cpu = timed(lambda: naive(session, sample, key))
    print(f"server compile_screens, {n_screens} screens x {n_rules} scheduled items ({GROUPS} groups), "
          f"{engine.dialect.name}")
    print(f"segmenters loaded (server start, before): {warm_wall:5.2f} s wall")
    print(f"first compile:        {first_wall:6.2f} s wall, {first_cpu:6.2f} s CPU, "
          f"{sum(r.new_version for r in first)} new versions ({first_wall / n_screens * 1000:.1f} ms per screen)")
    print(f"unchanged recompile:  {again_wall:6.2f} s wall, {again_cpu:6.2f} s CPU, "
          f"{sum(r.new_version for r in again)} new versions ({again_wall / n_screens * 1000:.1f} ms per screen)")
    per = naive_wall / len(sample)
    print(f"naive, nothing shared (each screen alone, {len(sample)} screens): {per * 1000:.1f} ms per screen wall "
          f"({naive_cpu / len(sample) * 1000:.1f} ms CPU) -> {per * n_screens:.1f} s for {n_screens} "
          f"({per * n_screens / again_wall:.0f}x the unchanged recompile)")


NAIVE_SAMPLE = 100


def compile_and_commit(session: Session, ids: list[int], key: SigningKey) -> list[manifests.CompileResult]:
    results = manifests.compile_screens(session, screen_ids=ids, key=key, now=NOW)
    session.commit()
    return results


def naive(session: Session, ids: list[int], key: SigningKey) -> None:
    """Each screen compiled on its own, as an edit touching one screen does: nothing shared, nothing read in bulk."""
    for sid in ids:
        manifests.compile_screen(session, screen_id=sid, key=key, now=NOW)
    session.rollback()


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu

if __name__ == "__main__":
    main()
