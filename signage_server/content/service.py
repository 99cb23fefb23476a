"""Import and export of the declarative content: idempotent, all-or-nothing, errors name file/entry/field."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, col, select

from signage_core.brightness import PlanLevels
from signage_core.fsutil import atomic_write_bytes
from signage_server.assets import service as assets
from signage_server.assets.models import Asset
from signage_server.assets.store import AssetStore
from signage_server.audit.models import AuditEvent
from signage_server.captions import service as captions
from signage_server.content.schemas import ContentFile
from signage_server.errors import Invalid, SignageError
from signage_server.playlists import service as playlists
from signage_server.playlists.models import Playlist
from signage_server.schedules import service as schedules
from signage_server.schedules.models import Schedule
from signage_server.screens import brightness
from signage_server.screens import service as screens
from signage_server.screens.models import Screen, ScreenGroup, Site
from signage_server.slides import service as slides
from signage_server.slides.models import Slide

SECTIONS = ("sites", "groups", "slides", "playlists", "screens", "schedules")
_KEYS = {"sites": "slug", "groups": "name", "slides": "name", "playlists": "name", "screens": "name",
         "schedules": "name"}


class ImportFailed(Invalid):
    """An import error that points at the file, the entry and the field to fix."""

    code = "import_failed"

    def __init__(self, *, file: str, entry: str, field: str | None, message: str) -> None:
        where = f"{file}: {entry}" + (f": {field}" if field else "")
        super().__init__(f"{where}: {message}", details={"file": file, "entry": entry, "field": field})


@dataclass
class ImportReport:
    files: list[str] = field(default_factory=list)
    entries: dict[str, int] = field(default_factory=dict)
    changes: int = 0  # audit events written: 0 means the database already matched the files


@dataclass(frozen=True)
class _Located:
    file: str
    section: str
    index: int
    key: str
    entry: Any
    base_dir: Path

    @property
    def label(self) -> str:
        return f"{self.section}[{self.index}] ({self.key})"


def _entry_label(data: Any, loc: tuple[Any, ...]) -> tuple[str, str | None]:
    """('screens', 2, 'width') -> ('screens[2] (its name)', 'width')."""
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        section, index = loc[0], loc[1]
        key = ""
        try:
            key = str(data[section][index].get(_KEYS.get(section, "name"), ""))
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        label = f"{section}[{index}]" + (f" ({key})" if key else "")
        rest = ".".join(str(p) for p in loc[2:]) or None
        return label, rest
    return (str(loc[0]) if loc else "(top level)"), ".".join(str(p) for p in loc[1:]) or None


def load_files(directory: Path) -> list[tuple[str, ContentFile, Path]]:
    """Parse and validate every YAML file first, so a bad file is reported before anything is written."""
    if not directory.is_dir():
        raise ImportFailed(file=str(directory), entry="(directory)", field=None, message="not a directory")
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not paths:
        raise ImportFailed(file=str(directory), entry="(directory)", field=None, message="no .yaml files")
    loaded = []
    for path in paths:
        name = path.name
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ImportFailed(file=name, entry="(file)", field=None, message=f"not valid YAML: {exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ImportFailed(file=name, entry="(file)", field=None, message="top level must be a mapping")
        try:
            content = ContentFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            entry, fld = _entry_label(data, tuple(first["loc"]))
            raise ImportFailed(file=name, entry=entry, field=fld, message=first["msg"]) from None
        loaded.append((name, content, path.parent))
    return loaded


def _index(loaded: list[tuple[str, ContentFile, Path]]) -> dict[str, list[_Located]]:
    """Entries per section; the same key in two places is an error naming both."""
    out: dict[str, list[_Located]] = {s: [] for s in SECTIONS}
    seen: dict[tuple[str, str], str] = {}
    for file, content, base in loaded:
        for section in SECTIONS:
            for index, entry in enumerate(getattr(content, section)):
                key = getattr(entry, _KEYS[section])
                located = _Located(file, section, index, key, entry, base)
                if (section, key) in seen:
                    raise ImportFailed(file=file, entry=located.label, field=_KEYS[section],
                                       message=f"already defined in {seen[(section, key)]}")
                seen[(section, key)] = f"{file} {located.label}"
                out[section].append(located)
    return out


def _require(found: Any, where: _Located, fld: str, what: str, key: str) -> Any:
    if found is None:
        raise ImportFailed(file=where.file, entry=where.label, field=fld, message=f"unknown {what} {key!r}")
    return found


def import_content(
    session: Session, *, directory: Path, store: AssetStore, max_upload_bytes: int, max_image_pixels: int,
    now: datetime,
) -> ImportReport:
    """Make the database match the files; captions arrive submitted, for translators to approve."""
    loaded = load_files(directory)
    index = _index(loaded)
    events_before = session.exec(select(func.count()).select_from(AuditEvent)).one()
    current: _Located | None = None
    try:
        for current in index["sites"]:
            e = current.entry
            site = screens.find_site(session, slug=e.slug)
            placed = None if e.latitude is None and e.longitude is None else (e.latitude, e.longitude)
            if site is None:
                screens.create_site(session, actor=None, slug=e.slug, name=e.name, district=e.district, now=now,
                                    latitude=e.latitude, longitude=e.longitude)
            else:
                screens.update_site(session, actor=None, site_id=site.id, name=e.name,  # type: ignore[arg-type]
                                    district=e.district, now=now, coordinates=placed)
        for current in index["groups"]:
            e = current.entry
            group = screens.find_group(session, name=e.name)
            if group is None:
                group = screens.create_group(session, actor=None, name=e.name, description=e.description,
                                             display_name=e.display_name, now=now)
            else:
                screens.update_group(session, actor=None, group_id=group.id,  # type: ignore[arg-type]
                                     description=e.description, display_name=e.display_name or None, now=now)
            _import_plan(session, group, e.brightness, now)
        for current in index["slides"]:
            e = current.entry
            slide = slides.find_slide(session, name=e.name) or slides.create_slide(
                session, actor=None, name=e.name, now=now)
            if e.image is not None:
                image_path = (current.base_dir / e.image).resolve()
                if not image_path.is_file() or current.base_dir.resolve() not in image_path.parents:
                    raise ImportFailed(file=current.file, entry=current.label, field="image",
                                       message=f"no image file {e.image!r} beside the YAML file")
                asset, _new = assets.store_image(session, actor=None, store=store, data=image_path.read_bytes(),
                                                 max_bytes=max_upload_bytes, max_pixels=max_image_pixels, now=now)
                slides.update_slide(session, actor=None, slide_id=slide.id,  # type: ignore[arg-type]
                                    fields={"asset_id": asset.id}, now=now)
            # Vietnamese first: each translation records the Vietnamese revision it translates.
            for lang, text in sorted(e.captions.items(), key=lambda kv: kv[0] != "vi"):
                existing = captions.find_caption(session, slide_id=slide.id, language=lang)  # type: ignore[arg-type]
                if existing is not None and existing.text == captions.clean_text(text):
                    continue  # unchanged text keeps its review state, whatever it is
                captions.write_caption(session, actor=None, slide_id=slide.id, language=lang, text=text,  # type: ignore[arg-type]
                                       submit=True, now=now)
        for current in index["playlists"]:
            e = current.entry
            specs = []
            for i, item in enumerate(e.items):
                slide = _require(slides.find_slide(session, name=item.slide), current, f"items.{i}.slide",
                                 "slide", item.slide)
                specs.append(playlists.ItemSpec(slide_id=slide.id, duration_s=item.duration))
            playlist = playlists.find_playlist(session, name=e.name)
            if playlist is None:
                playlists.create_playlist(session, actor=None, name=e.name, description=e.description,
                                          items=specs, display_name=e.display_name, now=now)
            else:
                playlists.update_playlist(session, actor=None, playlist_id=playlist.id,  # type: ignore[arg-type]
                                          description=e.description, items=specs,
                                          display_name=e.display_name or None, now=now)
        for current in index["screens"]:
            e = current.entry
            site = _require(screens.find_site(session, slug=e.site), current, "site", "site", e.site)
            group_ids = [_require(screens.find_group(session, name=g), current, f"groups.{i}", "group", g).id
                         for i, g in enumerate(e.groups)]
            playlist_id = None
            if e.playlist is not None:
                playlist_id = _require(playlists.find_playlist(session, name=e.playlist), current, "playlist",
                                       "playlist", e.playlist).id
            fields = {"site_id": site.id, "name": e.name, "width_px": e.width, "height_px": e.height,
                      "pixel_pitch_mm": e.pixel_pitch_mm, "orientation": e.orientation, "layout": e.layout,
                      "languages": e.languages, "foreign_ratio": e.foreign_ratio, "on_time": e.on_time,
                      "off_time": e.off_time, "default_playlist_id": playlist_id, "group_ids": group_ids,
                      "display_name": e.display_name, "rotation_dwell_s": e.rotation_dwell_s, "zones": None}
            if e.zones is not None:
                ticker_id = None
                if e.zones.ticker_playlist is not None:
                    ticker_id = _require(playlists.find_playlist(session, name=e.zones.ticker_playlist), current,
                                         "zones.ticker_playlist", "playlist", e.zones.ticker_playlist).id
                fields["zones"] = {"template": e.zones.template, "ticker_playlist_id": ticker_id,
                                   "widgets": e.zones.widgets}
            screen = screens.find_screen(session, name=e.name)
            if screen is None:
                screen = screens.create_screen(session, actor=None, fields=fields, now=now)
            else:
                screen = screens.update_screen(session, actor=None, screen_id=screen.id, fields=fields, now=now)  # type: ignore[arg-type]
            _import_plan(session, screen, e.brightness, now)
        for current in index["schedules"]:
            e = current.entry
            playlist = _require(playlists.find_playlist(session, name=e.playlist), current, "playlist",
                                "playlist", e.playlist)
            screen_ids = [_require(screens.find_screen(session, name=s), current, f"screens.{i}", "screen", s).id
                          for i, s in enumerate(e.screens)]
            group_ids = [_require(screens.find_group(session, name=g), current, f"groups.{i}", "group", g).id
                         for i, g in enumerate(e.groups)]
            fields = {"name": e.name, "playlist_id": playlist.id, "priority": e.priority, "rule": e.rule}
            schedule = schedules.find_schedule(session, name=e.name)
            if schedule is None:
                schedules.create_schedule(session, actor=None, fields=fields, screen_ids=screen_ids,
                                          group_ids=group_ids, now=now)
            else:
                schedules.update_schedule(session, actor=None, schedule_id=schedule.id,  # type: ignore[arg-type]
                                          fields=fields, screen_ids=screen_ids, group_ids=group_ids, now=now)
    except ImportFailed:
        raise
    except SignageError as exc:
        assert current is not None  # noqa: S101 (an error can only come from an entry)
        raise ImportFailed(file=current.file, entry=current.label, field=exc.details.get("field"),
                           message=exc.message) from None
    events_after = session.exec(select(func.count()).select_from(AuditEvent)).one()
    return ImportReport(
        files=[name for name, _c, _b in loaded],
        entries={section: len(index[section]) for section in SECTIONS},
        changes=int(events_after) - int(events_before),
    )


def _extension(media_type: str) -> str:
    return {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}.get(
        media_type, mimetypes.guess_extension(media_type) or ".bin")


def export_content(session: Session, *, directory: Path, store: AssetStore) -> Path:
    """Write everything as one content file plus its images, importable again as-is."""
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    for site in session.exec(select(Site).order_by(col(Site.slug))).all():
        out["sites"].append({"slug": site.slug, "name": site.name, "district": site.district,
                             **({"latitude": site.latitude, "longitude": site.longitude}
                                if site.latitude is not None else {})})
    for group in session.exec(select(ScreenGroup).order_by(col(ScreenGroup.name))).all():
        out["groups"].append({"name": group.name, "description": group.description,
                              **({"display_name": group.display_name} if group.display_name else {}),
                              **_plan_entry(group)})
    for slide in session.exec(select(Slide).order_by(col(Slide.name))).all():
        entry: dict[str, Any] = {"name": slide.name}
        if slide.asset_id is not None:
            asset = session.get_one(Asset, slide.asset_id)
            rel = f"images/{asset.sha256}{_extension(asset.media_type)}"
            atomic_write_bytes(directory / rel, store.read(asset.sha256), mode=0o644)
            entry["image"] = rel
        entry["captions"] = {c.language: c.text for c in slides.captions_of(session, slide_id=slide.id)}  # type: ignore[arg-type]
        out["slides"].append(entry)
    slide_names = {s.id: s.name for s in session.exec(select(Slide)).all()}
    playlist_names = {p.id: p.name for p in session.exec(select(Playlist)).all()}
    for playlist in session.exec(select(Playlist).order_by(col(Playlist.name))).all():
        items = [{"slide": slide_names[i.slide_id], "duration": i.duration_s}
                 for i in playlists.items_of(session, playlist_id=playlist.id)]  # type: ignore[arg-type]
        row: dict[str, Any] = {"name": playlist.name, "description": playlist.description, "items": items}
        if playlist.display_name:
            row["display_name"] = playlist.display_name
        out["playlists"].append(row)
    site_slugs = {s.id: s.slug for s in session.exec(select(Site)).all()}
    group_names = {g.id: g.name for g in session.exec(select(ScreenGroup)).all()}
    screen_names = {s.id: s.name for s in session.exec(select(Screen)).all()}
    for screen in session.exec(select(Screen).order_by(col(Screen.name))).all():
        row = {
            "name": screen.name, "site": site_slugs[screen.site_id], "width": screen.width_px,
            "height": screen.height_px, "pixel_pitch_mm": screen.pixel_pitch_mm,
            "orientation": str(screen.orientation), "layout": str(screen.layout), "languages": screen.languages,
            "foreign_ratio": screen.foreign_ratio, "groups": sorted(g.name for g in screen.groups),
        }
        if screen.display_name:
            row["display_name"] = screen.display_name
        if screen.rotation_dwell_s is not None:
            row["rotation_dwell_s"] = screen.rotation_dwell_s
        if screen.on_time is not None:
            row["on_time"], row["off_time"] = screen.on_time.strftime("%H:%M:%S"), screen.off_time.strftime("%H:%M:%S")  # type: ignore[union-attr]
        if screen.default_playlist_id is not None:
            row["playlist"] = playlist_names[screen.default_playlist_id]
        if screen.zones is not None:
            ticker = screen.zones.get("ticker_playlist_id")
            row["zones"] = {"template": screen.zones["template"],
                            "ticker_playlist": playlist_names.get(ticker) if ticker is not None else None,
                            "widgets": [{k: v for k, v in w.items() if v is not None}
                                        for w in screen.zones.get("widgets", [])]}
        row.update(_plan_entry(screen))
        out["screens"].append(row)
    for schedule in session.exec(select(Schedule).order_by(col(Schedule.name))).all():
        screen_ids, group_ids = schedules.targets_of(session, schedule_id=schedule.id)  # type: ignore[arg-type]
        out["schedules"].append({
            "name": schedule.name, "playlist": playlist_names[schedule.playlist_id], "priority": schedule.priority,
            "rule": schedule.rule, "screens": [screen_names[i] for i in screen_ids],
            "groups": [group_names[i] for i in group_ids],
        })
    target = directory / "signage-export.yaml"
    text = yaml.safe_dump({k: v for k, v in out.items() if v}, allow_unicode=True, sort_keys=False, width=100)
    atomic_write_bytes(target, text.encode("utf-8"), mode=0o644)
    return target


def _import_plan(session: Session, row: Screen | ScreenGroup, plan: PlanLevels | None, now: datetime) -> None:
    """A content file's plan replaces the stored one when it differs; an override in force is kept."""
    if plan is None:
        return
    wanted = brightness.StoredPlan.model_validate(plan.model_dump(exclude={"override"}))
    current = brightness.stored(row.brightness)
    if current is None or current.model_copy(update={"override": None}) != wanted:
        brightness.set_plan(session, actor=None, row=row, plan=wanted, now=now)


def _plan_entry(row: Screen | ScreenGroup) -> dict[str, Any]:
    """A stored plan as a content file writes it: its levels and times, not a passing override."""
    plan = brightness.stored(row.brightness)
    return {} if plan is None else {"brightness": plan.model_dump(mode="json", exclude={"override"})}
