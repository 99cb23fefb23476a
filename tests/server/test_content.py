"""The shipped playlists/ import cleanly, twice without change; a broken file changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from signage_server.assets.store import AssetStore
from signage_server.captions import service as captions
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.content.service import ImportFailed, export_content, import_content
from signage_server.playlists.models import Playlist
from signage_server.screens.models import Screen
from signage_server.slides.models import Slide
from tests.server.world import NOW, png

SHIPPED = Path(__file__).resolve().parents[2] / "playlists"
CONTENT_TABLES = ("sites", "screen_groups", "screens", "screen_group_links", "slides", "caption_revisions", "assets",
                  "playlists", "playlist_items", "schedules", "schedule_screen_links", "schedule_group_links",
                  "audit_events")


def dump(session: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every content table, to compare the database before and after."""
    out = {}
    for name in CONTENT_TABLES:
        table = SQLModel.metadata.tables[name]
        rows = session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
        out[name] = [tuple(row) for row in rows]
    return out


def run_import(session: Any, directory: Path, tmp_path: Path) -> Any:
    return import_content(session, directory=directory, store=AssetStore(tmp_path / "assets"),
                          max_upload_bytes=10**7, max_image_pixels=10**7, now=NOW)


@pytest.fixture
def empty(connection: Any, session: Any) -> Any:
    """A test session on a database holding only the seeded accounts (no world)."""
    return session


def test_shipped_content_imports_twice_without_change(empty: Any, tmp_path: Path) -> None:
    first = run_import(empty, SHIPPED, tmp_path)
    assert first.changes > 0 and first.entries["screens"] == 5 and first.entries["sites"] == 2
    before = dump(empty)
    second = run_import(empty, SHIPPED, tmp_path)
    assert second.changes == 0
    assert dump(empty) == before
    states = {c.state for c in empty.exec(select(CaptionRevision)).all()}
    assert states == {CaptionState.SUBMITTED}  # translators still sign everything off
    langs = {(c.language) for c in empty.exec(select(CaptionRevision)).all()}
    assert langs == {"vi", "en", "km"}
    ticker = empty.exec(select(Screen).where(Screen.name == "hoa-lu-lane-ticker")).one()
    assert (ticker.width_px, ticker.height_px, str(ticker.layout)) == (960, 160, "ticker")
    main = empty.exec(select(Playlist).where(Playlist.name == "hoa-lu-main")).one()
    assert main.label == "Chương trình chính Hoa Lư"  # what reports and pages show, not the slug


def _broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    target = tmp_path / "content"
    shutil.copytree(SHIPPED, target)
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(("file", "old", "new", "entry", "field"), [
    ("loc-ninh-hoa-lu.yaml", "width: 960", "width: wide", "screens[2] (hoa-lu-lane-ticker)", "width"),
    ("loc-ninh-hoa-lu.yaml", "{slide: friendship, duration: 20}", "{slide: frendship, duration: 20}",
     "playlists[0] (hoa-lu-main)", "items.2.slide"),
    ("bu-dop-hoang-dieu.yaml", "languages: [vi, km]", "languages: [vi, fr]",
     "screens[1] (hoang-dieu-lane-ticker)", "languages"),
    ("common.yaml", "en: Welcome to Viet Nam", "fr: Bienvenue au Viet Nam", "slides[0] (welcome-vn)", "language"),
    ("bu-dop-hoang-dieu.yaml", "pixel_pitch_mm: 8", "pixel_pitch_mm: 8\n    colour: red",
     "screens[0] (hoang-dieu-square)", "colour"),
])
def test_broken_file_changes_nothing_and_names_file_entry_field(
        empty: Any, tmp_path: Path, file: str, old: str, new: str, entry: str, field: str) -> None:
    broken = _broken_copy(tmp_path, file, old, new)
    before = dump(empty)
    with pytest.raises(ImportFailed) as caught:
        run_import(empty, broken, tmp_path)
    empty.rollback()  # what the CLI's transaction does on error
    details = caught.value.details
    assert (details["file"], details["entry"], details["field"]) == (file, entry, field), caught.value.message
    assert file in caught.value.message and entry in caught.value.message
    assert dump(empty) == before


def test_same_name_in_two_files_is_an_error(empty: Any, tmp_path: Path) -> None:
    target = _broken_copy(tmp_path, "common.yaml", "- name: tickers", "- name: tickers")
    (target / "extra.yaml").write_text("groups:\n  - name: tickers\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="already defined in common.yaml"):
        run_import(empty, target, tmp_path)


def test_reimport_keeps_approvals_unless_the_text_changed(empty: Any, tmp_path: Path, users: Any) -> None:
    run_import(empty, SHIPPED, tmp_path)
    slide = empty.exec(select(Slide).where(Slide.name == "welcome-vn")).one()
    for lang in ("vi", "en", "km"):
        captions.approve_caption(empty, actor=users["approver"], slide_id=slide.id, language=lang, now=NOW)
    changed = _broken_copy(tmp_path, "common.yaml", "en: Welcome to Viet Nam", "en: Welcome to Vietnam")
    run_import(empty, changed, tmp_path)
    # The newest revision per language (ids grow): without an order PostgreSQL may return the old one last.
    newest = select(CaptionRevision).where(CaptionRevision.slide_id == slide.id).order_by(col(CaptionRevision.id))
    states = {c.language: c.state for c in empty.exec(newest).all()}
    assert states == {"vi": CaptionState.APPROVED, "en": CaptionState.SUBMITTED, "km": CaptionState.APPROVED}


def test_export_then_import_reproduces_the_content(empty: Any, tmp_path: Path) -> None:
    source = _broken_copy(tmp_path, "common.yaml", "- name: welcome-vn\n", "- name: welcome-vn\n    image: welcome.png\n")
    (source / "welcome.png").write_bytes(png(96, 48))
    run_import(empty, source, tmp_path)
    out = tmp_path / "export"
    export_content(empty, directory=out, store=AssetStore(tmp_path / "assets"))
    assert list((out / "images").iterdir())
    report = run_import(empty, out, tmp_path)
    assert report.changes == 0  # the export describes exactly what is in the database
    assert "display_name: Chương trình chính Hoa Lư" in "".join(
        p.read_text(encoding="utf-8") for p in out.glob("*.yaml"))
    slide = empty.exec(select(Slide).where(Slide.name == "welcome-vn")).one()
    assert slide.asset_id is not None


def test_image_outside_the_content_folder_is_refused(empty: Any, tmp_path: Path) -> None:
    source = _broken_copy(tmp_path, "common.yaml", "- name: welcome-vn\n",
                          "- name: welcome-vn\n    image: ../../etc/passwd\n")
    with pytest.raises(ImportFailed) as caught:
        run_import(empty, source, tmp_path)
    assert caught.value.details["field"] == "image"



def test_shipped_gates_have_coordinates_and_a_plan_that_export_writes_back(empty: Any, tmp_path: Path) -> None:
    from signage_server.screens.models import ScreenGroup, Site

    run_import(empty, SHIPPED, tmp_path)
    sites = {s.slug: (s.latitude, s.longitude) for s in empty.exec(select(Site)).all()}
    assert sites == {"loc-ninh-hoa-lu": (11.93, 106.52), "bu-dop-hoang-dieu": (12.07, 106.79)}
    group = empty.exec(select(ScreenGroup).where(ScreenGroup.name == "hoa-lu")).one()
    assert group.brightness is not None and group.brightness["night_percent"] == 30
    assert group.brightness["day_from"]["sun"] == "sunrise"
    out = tmp_path / "export"
    export_content(empty, directory=out, store=AssetStore(tmp_path / "assets"))
    exported = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.yaml"))
    assert "latitude: 11.93" in exported and "night_percent: 30" in exported
    assert run_import(empty, out, tmp_path).changes == 0
