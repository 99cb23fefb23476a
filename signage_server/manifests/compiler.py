"""The manifest compiler: publishable content only, signed, versioned per screen."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Mapped
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from signage_core.brightness import BrightnessPlan
from signage_core.languages import Language, ordered
from signage_core.manifest import (
    Asset,
    LayoutSpec,
    ManifestError,
    ManifestTemplate,
    Playlist,
    PlaylistItem,
    Slide,
    build_manifest_template,
    horizon_window,
)
from signage_core.schedule import ScheduleRule, Segment, require_aware, timeline
from signage_core.signing import SigningKey
from signage_core.zones import ZonesSpec
from signage_server.assets.models import Asset as AssetRow
from signage_server.captions import revisions
from signage_server.db import saved_id
from signage_server.manifests.history import (
    REFRESH_BEFORE_EXPIRY,
    StoredHeader,
    chunks,
    latest_headers,
    latest_manifest,
)
from signage_server.manifests.models import ManifestRecord
from signage_server.playlists.models import PlaylistItem as PlaylistItemRow
from signage_server.schedules import service as schedules
from signage_server.schedules.models import Schedule, ScheduleGroupLink, ScheduleScreenLink
from signage_server.screens import brightness as screen_brightness
from signage_server.screens import service as screens_service
from signage_server.screens import zones as screen_zones
from signage_server.screens.models import Enrolment, Screen, ScreenGroupLink
from signage_server.slides.models import Slide as SlideRow
from signage_server.typesetting import with_break_marks

log = logging.getLogger(__name__)

DEFAULT_HORIZON_DAYS = 7


@dataclass(frozen=True)
class Exclusion:
    """One thing left out of a manifest and why, stored with the version and shown to operators."""

    kind: str  # "slide", "playlist", "schedule", "item"
    id: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class IssuedManifest:
    """A version just signed, as its manifest_records row holds it.

    Written with one multi-row INSERT per batch, not as an ORM object per screen: for a province's
    1,000 screens the objects and their flush cost more than signing the 1,000 envelopes.
    """

    screen_id: int
    version: int
    content_hash: str
    key_id: str
    issued_at: datetime
    expires_at: datetime
    horizon_start: datetime
    horizon_end: datetime
    envelope_json: bytes  # canonical, published byte for byte
    asset_sha256s: tuple[str, ...]
    excluded: tuple[Exclusion, ...]

    @property
    def envelope(self) -> str:
        return self.envelope_json.decode("utf-8")

    def row(self) -> dict[str, Any]:
        return {"screen_id": self.screen_id, "version": self.version, "content_hash": self.content_hash,
                "issued_at": self.issued_at, "expires_at": self.expires_at, "horizon_start": self.horizon_start,
                "horizon_end": self.horizon_end, "key_id": self.key_id,
                "envelope_z": ManifestRecord.pack(self.envelope_json), "asset_sha256s": list(self.asset_sha256s),
                "excluded": [e.as_dict() for e in self.excluded]}


# Core statements on the tables: the ORM's bulk forms cost ~2x more per row here and add nothing to plain rows.
_RECORDS: sa.Table = ManifestRecord.__table__  # type: ignore[attr-defined]
_SCREENS: sa.Table = Screen.__table__  # type: ignore[attr-defined]
_INSERT_RECORDS = sa.insert(_RECORDS)
_SET_VERSION = (sa.update(_SCREENS).where(_SCREENS.c.id == sa.bindparam("screen"))
                .values(manifest_version=sa.bindparam("version")))


def write_issued(session: Session, issued: Sequence[IssuedManifest]) -> None:
    """Store new versions and move their screens' manifest_version, in the caller's transaction.

    The screens are locked rows already in the session: their attribute is set as committed, so the
    version does not look like an edit (which would ask for another recompile).
    """
    if not issued:
        return
    session.execute(_INSERT_RECORDS, [one.row() for one in issued])
    session.execute(_SET_VERSION, [{"screen": one.screen_id, "version": one.version} for one in issued])


@dataclass
class CompileResult:
    """Outcome for one screen: its newest version (just issued, or the stored one), whether it is new, and
    what was left out."""

    screen_id: int
    record: IssuedManifest | ManifestRecord | StoredHeader | None
    new_version: bool
    excluded: list[Exclusion] = field(default_factory=list)
    error: str | None = None


@dataclass
class CompileCache:
    """Per-run memo: a slide's publish status and content is looked up once, not once per screen."""

    slide_status: dict[int, tuple[bool, str, set[str]]] = field(default_factory=dict)
    slides: dict[int, SlideRow | None] = field(default_factory=dict)
    captions: dict[int, dict[str, str]] = field(default_factory=dict)
    # Slides whose live Vietnamese was approved as urgent: that text, for screens showing Vietnamese only.
    urgent_vi: dict[int, str] = field(default_factory=dict)
    assets: dict[int, Asset | None] = field(default_factory=dict)
    items: dict[int, list[PlaylistItemRow]] = field(default_factory=dict)
    # Screens sharing a rule set (a screen group) share one timeline: the evaluator runs once per set.
    timelines: dict[tuple[object, ...], list[Segment]] = field(default_factory=dict)
    playlist_languages: dict[int, set[str]] = field(default_factory=dict)
    rules: dict[int, ScheduleRule | str] = field(default_factory=dict)
    built_playlists: dict[tuple[int, tuple[Language, ...]], tuple[Playlist | None, list[Exclusion],
                                                              dict[str, Slide], dict[str, Asset]]] = field(
        default_factory=dict)
    # Filled in bulk by prefetch(): screen id -> ids of the schedules aimed at it (directly or by group),
    # and each screen's newest manifest (without its envelope), trusted only if the locked screen row agrees.
    schedule_ids: dict[int, list[int]] = field(default_factory=dict)
    latest: dict[int, StoredHeader] = field(default_factory=dict)
    # Screens loaded FOR UPDATE in bulk (locks held to the commit); held here, as the session only keeps weak refs.
    locked: dict[int, Screen] = field(default_factory=dict)
    resolved: dict[tuple[tuple[int, ...], int, tuple[Language, ...]], _Resolved] = field(default_factory=dict)
    screen_languages: dict[int, Sequence[str]] | None = None
    # Screens sharing a rule set, a layout and a brightness plan share one body, encoded once; each splices its id in.
    templates: dict[tuple[tuple[object, ...], LayoutSpec, BrightnessPlan | None, ZonesSpec | None],
                    ManifestTemplate] = field(
        default_factory=dict)
    # Screen id -> its brightness plan (own, else its group's, with its site's coordinates), or why none.
    brightness: dict[int, tuple[BrightnessPlan | None, str | None]] = field(default_factory=dict)
    # Versions signed but not yet written: compile_screens writes a batch's in one statement.
    unwritten: list[IssuedManifest] = field(default_factory=list)


def _load_playlists(session: Session, cache: CompileCache, playlist_ids: Iterable[int]) -> None:
    """Read in bulk what building these playlists needs: items, slides, approved captions, images, and who shows each.

    A few queries per run instead of several per slide: a week's manifest carries 40 playlists and 160 slides.
    """
    wanted = _missing(playlist_ids, cache.items)
    if not wanted:
        return
    for playlist_id in wanted:
        cache.items[playlist_id] = []
    for chunk in chunks(wanted):
        for item in session.exec(select(PlaylistItemRow).where(col(PlaylistItemRow.playlist_id).in_(chunk))
                                 .order_by(col(PlaylistItemRow.playlist_id), col(PlaylistItemRow.position))).all():
            cache.items[item.playlist_id].append(item)
    _load_slides(session, cache, {item.slide_id for pid in wanted for item in cache.items[pid]})


def _load_slides(session: Session, cache: CompileCache, slide_ids: Iterable[int]) -> None:
    """Each slide's publish status by slides.publish_status's rule: the consistent set of approved revisions
    (revisions.consistent_set) covering every language any of its screens draws, and the slide approved."""
    wanted = _missing(slide_ids, cache.slide_status)
    if not wanted:
        return
    shown_in: dict[int, set[int]] = {sid: set() for sid in wanted}
    approved: dict[int, list[revisions.Approved]] = {}
    for sid in wanted:
        cache.slides[sid] = None
        cache.captions[sid] = {}
    for chunk in chunks(wanted):
        for loaded in session.exec(select(SlideRow).where(col(SlideRow.id).in_(chunk))).all():
            cache.slides[saved_id(loaded)] = loaded
        approved.update(revisions.approved_revisions(session, slide_ids=chunk))
        for slide_id, playlist_id in session.exec(select(PlaylistItemRow.slide_id, PlaylistItemRow.playlist_id)
                                                  .where(col(PlaylistItemRow.slide_id).in_(chunk))).all():
            shown_in[slide_id].add(playlist_id)
    _load_playlist_languages(session, cache, {pid for pids in shown_in.values() for pid in pids})
    _load_assets(session, cache, {row.asset_id for sid in wanted if (row := cache.slides[sid]) and row.asset_id})
    for sid in wanted:
        row = cache.slides[sid]
        if row is None:
            cache.slide_status[sid] = (False, "slide no longer exists", set())
            continue
        needed = {Language.VI.value}.union(*(cache.playlist_languages[pid] for pid in shown_in[sid]))
        codes = [lang.value for lang in ordered([Language(code) for code in needed])]
        live = {r.language: r for r in approved[sid] if r.live}
        on_air = revisions.consistent_set(approved[sid], codes)
        if on_air is not None:
            cache.captions[sid] = {code: rev.text for code, rev in on_air.items()}
        vi = live.get(Language.VI.value)
        if vi is not None and vi.urgent:
            cache.urgent_vi[sid] = vi.text
        missing = [code for code in codes if code not in live]
        reason = ""
        if row.retired_at is not None:
            reason = "slide retired"
        elif missing:
            reason = "no approved caption for " + ", ".join(missing)
        elif on_air is None:
            reason = "no approved translations of one Vietnamese text in " + ", ".join(codes)
        elif row.approved_at is None:
            reason = "slide not approved as a whole"
        cache.slide_status[sid] = (not reason, reason, set(cache.captions[sid]))


def _load_playlist_languages(session: Session, cache: CompileCache, playlist_ids: Iterable[int]) -> None:
    """Languages drawn by the screens that may show each playlist (screens_for_playlist's rule, tickers too), in bulk.

    Group schedules are read as (playlist, group) pairs and groups as their screens: joined in SQL, a
    province's 300 schedules on 20 groups of 50 screens would be 300,000 rows.
    """
    wanted = _missing(playlist_ids, cache.playlist_languages)
    if not wanted:
        return
    if cache.screen_languages is None:  # a few hundred bytes per screen, read once per run
        cache.screen_languages = {sid: languages for sid, languages in session.exec(  # revoked ones show nothing
            select(Screen.id, Screen.languages).where(Screen.enrolment != Enrolment.REVOKED)).all()
            if sid is not None}
    reached: dict[int, set[int]] = {pid: set() for pid in wanted}
    groups: dict[int, set[int]] = {}
    for chunk in chunks(wanted):
        for screen_id, playlist_id in session.exec(select(Screen.id, Screen.default_playlist_id)
                                                   .where(col(Screen.default_playlist_id).in_(chunk))).all():
            reached[playlist_id or 0].add(screen_id or 0)
        for playlist_id, screen_id in session.exec(
                select(Schedule.playlist_id, ScheduleScreenLink.screen_id).distinct()
                .join(ScheduleScreenLink, col(ScheduleScreenLink.schedule_id) == col(Schedule.id))
                .where(col(Schedule.playlist_id).in_(chunk))).all():
            reached[playlist_id].add(screen_id)
        for playlist_id, group_id in session.exec(
                select(Schedule.playlist_id, ScheduleGroupLink.group_id).distinct()
                .join(ScheduleGroupLink, col(ScheduleGroupLink.schedule_id) == col(Schedule.id))
                .where(col(Schedule.playlist_id).in_(chunk))).all():
            groups.setdefault(group_id, set()).add(playlist_id)
    for playlist_id, screen_ids in screens_service.ticker_screens(session, playlist_ids=wanted).items():
        reached[playlist_id] |= screen_ids
    _through_groups(session, groups, col(ScreenGroupLink.group_id), col(ScreenGroupLink.screen_id), reached)
    for playlist_id, screen_ids in reached.items():
        cache.playlist_languages[playlist_id] = {
            code for sid in screen_ids for code in cache.screen_languages.get(sid, [])}


def _load_assets(session: Session, cache: CompileCache, asset_ids: Iterable[int]) -> None:
    wanted = _missing(asset_ids, cache.assets)
    for asset_id in wanted:
        cache.assets[asset_id] = None
    for chunk in chunks(wanted):
        for row in session.exec(select(AssetRow).where(col(AssetRow.id).in_(chunk))).all():
            cache.assets[saved_id(row)] = Asset(sha256=row.sha256, size=row.size_bytes, media_type=row.media_type)


def _slide_status(session: Session, slide_id: int, cache: CompileCache) -> tuple[bool, str, set[str]]:
    """(publishable as a whole, why not, approved languages) of a slide."""
    _load_slides(session, cache, [slide_id])
    return cache.slide_status[slide_id]


def _asset(session: Session, asset_id: int, cache: CompileCache) -> Asset | None:
    _load_assets(session, cache, [asset_id])
    return cache.assets[asset_id]


def _slide_for(session: Session, slide_id: int, languages: Sequence[Language], cache: CompileCache,
               excluded: list[Exclusion]) -> tuple[Slide, Asset | None] | None:
    """The slide as the manifest carries it, or None (with the reason recorded) when not publishable here."""
    publishable, reason, approved = _slide_status(session, slide_id, cache)
    if publishable:
        missing = [lang.value for lang in languages if lang.value not in approved]
        if missing:  # publish_status covers every screen; checked again here for this screen's languages
            publishable, reason = False, "no approved caption for " + ", ".join(missing)
    if not publishable:
        excluded.append(Exclusion("slide", str(slide_id), reason))
        return None
    row = cache.slides[slide_id]
    texts = cache.captions[slide_id]
    if tuple(languages) == (Language.VI,) and slide_id in cache.urgent_vi:
        texts = {Language.VI.value: cache.urgent_vi[slide_id]}  # the approver's emergency rule
    captions = {lang: with_break_marks(lang, texts[lang.value]) for lang in languages}
    asset = None
    if row is not None and row.asset_id is not None:
        asset = _asset(session, row.asset_id, cache)
        if asset is None:
            excluded.append(Exclusion("slide", str(slide_id), f"image asset {row.asset_id} is missing"))
            return None
    return Slide(id=str(slide_id), captions=captions, image=asset.sha256 if asset else None), asset


def _playlist_for(session: Session, playlist_id: int, languages: tuple[Language, ...], cache: CompileCache,
                  excluded: list[Exclusion], slide_out: dict[str, Slide], asset_out: dict[str, Asset]) -> Playlist | None:
    """The playlist with only its publishable items (built once per run and language set)."""
    key = (playlist_id, languages)
    if key not in cache.built_playlists:
        mine_excluded: list[Exclusion] = []
        mine_slides: dict[str, Slide] = {}
        mine_assets: dict[str, Asset] = {}
        built = _build_playlist(session, playlist_id, languages, cache, mine_excluded, mine_slides, mine_assets)
        cache.built_playlists[key] = (built, mine_excluded, mine_slides, mine_assets)
    built, more_excluded, more_slides, more_assets = cache.built_playlists[key]
    excluded.extend(more_excluded)
    slide_out.update(more_slides)
    asset_out.update(more_assets)
    return built


def _build_playlist(session: Session, playlist_id: int, languages: Sequence[Language], cache: CompileCache,
                    excluded: list[Exclusion], slide_out: dict[str, Slide], asset_out: dict[str, Asset]) -> Playlist | None:
    """The playlist with only its publishable items; None when nothing in it may be shown."""
    _load_playlists(session, cache, [playlist_id])
    items: list[PlaylistItem] = []
    for row in cache.items[playlist_id]:
        found = _slide_for(session, row.slide_id, languages, cache, excluded)
        if found is None:
            continue
        slide, asset = found
        try:
            items.append(PlaylistItem(slide_id=slide.id, duration_ms=round(row.duration_s * 1000)))
        except ValidationError:
            excluded.append(Exclusion("item", f"{playlist_id}/{row.position}",
                                      f"duration {row.duration_s:g} s is outside 1-3600 s"))
            continue
        slide_out[slide.id] = slide
        if asset is not None:
            asset_out[asset.sha256] = asset
    if not items:
        excluded.append(Exclusion("playlist", str(playlist_id), "no publishable slide in it"))
        return None
    return Playlist(id=str(playlist_id), items=tuple(items))


def _rule(session: Session, schedule_id: int, cache: CompileCache) -> ScheduleRule | str:
    """The evaluator's rule for a schedule, once per run; a string says why it cannot be used."""
    _load_rules(session, cache, [schedule_id])
    return cache.rules[schedule_id]


def _load_rules(session: Session, cache: CompileCache, schedule_ids: Iterable[int]) -> None:
    wanted = _missing(schedule_ids, cache.rules)
    for wanted_id in wanted:
        cache.rules[wanted_id] = f"schedule {wanted_id} no longer exists"
    for chunk in chunks(wanted):
        # Columns, not entities: thousands of ORM objects cost more than the rules themselves.
        for schedule_id, rule, playlist_id, priority in session.exec(
                select(Schedule.id, Schedule.rule, Schedule.playlist_id, Schedule.priority)
                .where(col(Schedule.id).in_(chunk))).all():
            try:
                cache.rules[schedule_id or 0] = schedules.rule_from(schedule_id or 0, rule, playlist_id, priority)
            except ValidationError as exc:
                cache.rules[schedule_id or 0] = f"invalid rule: {exc.errors()[0]['msg']}"


def _through_groups(session: Session, keys_of: Mapping[int, set[int]], group_col: Mapped[int],
                    member_col: Mapped[int], out: Mapping[int, set[int]]) -> None:
    """Group links joined in Python: a few thousand link rows, where the SQL join would return every (key, member) pair."""
    for chunk in chunks(sorted(keys_of)):
        for group_id, member_id in session.exec(select(group_col, member_col).where(group_col.in_(chunk))).all():
            for key in keys_of[group_id]:
                out[key].add(member_id)


def _missing(ids: Iterable[int], known: Mapping[int, object]) -> list[int]:
    """The ids not yet in a cache map, sorted (checked per id: the maps grow to thousands of entries)."""
    return sorted({i for i in ids if i not in known})



def prefetch(session: Session, cache: CompileCache, screen_ids: Iterable[int]) -> None:
    """Read in a few queries what compiling these screens would read per screen: schedule targets and rules.

    A province's screens share group schedules: 1,000 screens x 300 schedules is 300,000 (screen,
    schedule) pairs but only a few thousand link rows, so links are read apart and joined here.
    """
    wanted = _missing(screen_ids, cache.schedule_ids)
    if not wanted:
        return
    for chunk in chunks(wanted):
        # Row locks in id order, as compile_screen takes them one by one: two batches cannot deadlock.
        # populate_existing: rows already in the session are refreshed once locked (a version issued
        # meanwhile by another process is seen; our own edits were flushed above, so they are kept).
        cache.locked.update((saved_id(screen), screen) for screen in session.exec(
            select(Screen).where(col(Screen.id).in_(chunk)).order_by(col(Screen.id)).with_for_update()
            .execution_options(populate_existing=True)).all())
    targets: dict[int, set[int]] = {sid: set() for sid in wanted}
    groups_of: dict[int, set[int]] = {}
    for chunk in chunks(wanted):
        for screen_id, schedule_id in session.exec(select(ScheduleScreenLink.screen_id, ScheduleScreenLink.schedule_id)
                                                   .where(col(ScheduleScreenLink.screen_id).in_(chunk))).all():
            targets[screen_id].add(schedule_id)
        for screen_id, group_id in session.exec(select(ScreenGroupLink.screen_id, ScreenGroupLink.group_id)
                                                .where(col(ScreenGroupLink.screen_id).in_(chunk))).all():
            groups_of.setdefault(group_id, set()).add(screen_id)
    _through_groups(session, groups_of, col(ScheduleGroupLink.group_id), col(ScheduleGroupLink.schedule_id), targets)
    for screen_id, ids in targets.items():
        cache.schedule_ids[screen_id] = sorted(ids)
    cache.latest.update(latest_headers(session, screen_ids=wanted))
    _load_rules(session, cache, {i for ids in targets.values() for i in ids})


def _dedupe(excluded: Iterable[Exclusion]) -> list[Exclusion]:
    return sorted(set(excluded), key=lambda e: (e.kind, e.id, e.reason))


@dataclass
class _Resolved:
    """A screen's schedules and default playlist reduced to what may be published, with what was left out."""

    default: Playlist | None
    rules: list[ScheduleRule]
    playlists: dict[str, Playlist]
    slides: dict[str, Slide]
    assets: dict[str, Asset]
    excluded: list[Exclusion]

    @functools.cached_property
    def rule_ids(self) -> tuple[str, ...]:
        """Names the rule set: rules come from schedule rows read in this run."""
        return tuple(rule.id for rule in self.rules)


def _resolve(session: Session, cache: CompileCache, schedule_ids: tuple[int, ...], default_playlist_id: int,
             languages: tuple[Language, ...]) -> _Resolved:
    """Once per (schedules, default playlist, languages) per run: screens of one group share the answer."""
    key = (schedule_ids, default_playlist_id, languages)
    if key in cache.resolved:
        return cache.resolved[key]
    excluded: list[Exclusion] = []
    slides: dict[str, Slide] = {}
    assets: dict[str, Asset] = {}
    playlists: dict[str, Playlist] = {}
    rules: list[ScheduleRule] = []
    _load_rules(session, cache, schedule_ids)
    _load_playlists(session, cache, [default_playlist_id, *(
        int(rule.playlist_id) for sid in schedule_ids if isinstance(rule := cache.rules[sid], ScheduleRule))])
    default = _playlist_for(session, default_playlist_id, languages, cache, excluded, slides, assets)
    if default is not None:
        playlists[default.id] = default
        for schedule_id in schedule_ids:
            rule_or_error = _rule(session, schedule_id, cache)
            if isinstance(rule_or_error, str):
                excluded.append(Exclusion("schedule", str(schedule_id), rule_or_error))
                continue
            rule = rule_or_error
            if rule.playlist_id not in playlists:
                playlist = _playlist_for(session, int(rule.playlist_id), languages, cache, excluded, slides, assets)
                if playlist is None:
                    excluded.append(Exclusion("schedule", str(schedule_id),
                                              f"playlist {rule.playlist_id} has nothing publishable"))
                    continue
                playlists[playlist.id] = playlist
            rules.append(rule)
    cache.resolved[key] = _Resolved(default, rules, playlists, slides, assets, _dedupe(excluded))
    return cache.resolved[key]


def _zones_for(session: Session, screen: Screen, languages: tuple[Language, ...], cache: CompileCache,
               excluded: list[Exclusion], playlists: Mapping[str, Playlist], slides: Mapping[str, Slide],
               assets: Mapping[str, Asset]) -> tuple[ZonesSpec | None, Mapping[str, Playlist], Mapping[str, Slide],
                                                     Mapping[str, Asset]]:
    """The screen's zones for its manifest, with the ticker playlist's approved slides added beside the rule set's.

    A ticker playlist with nothing publishable is left out (named in the record): the ticker then scrolls the
    main zone's slide rather than the screen losing its manifest.
    """
    stored = screen_zones.stored(screen.zones)
    if stored is None:
        return None, playlists, slides, assets
    if stored.ticker_playlist_id is None:
        return stored.spec(ticker_playlist=None), playlists, slides, assets
    more_slides, more_assets = dict(slides), dict(assets)  # the rule set's maps are shared by other screens
    ticker = _playlist_for(session, stored.ticker_playlist_id, languages, cache, excluded, more_slides, more_assets)
    if ticker is None:
        excluded.append(Exclusion("zones", str(screen.id), f"ticker playlist {stored.ticker_playlist_id} "
                                                            "has nothing publishable"))
        return stored.spec(ticker_playlist=None), playlists, slides, assets
    return (stored.spec(ticker_playlist=ticker.id), {**playlists, ticker.id: ticker}, more_slides, more_assets)


def compile_screen(
    session: Session, *, screen_id: int, key: SigningKey, now: datetime,
    horizon_days: int = DEFAULT_HORIZON_DAYS, cache: CompileCache | None = None, flush: bool = True,
) -> CompileResult:
    """Build, and sign if the content changed (or expiry nears), the manifest of one screen.

    flush=False leaves the new version in cache.unwritten for the caller's one write of a whole batch.
    """
    now = require_aware(now, "now")
    cache = cache or CompileCache()
    # Lock the screen row so two compiles of one screen cannot issue the same version (PostgreSQL).
    screen = cache.locked.get(screen_id) or session.exec(
        select(Screen).where(Screen.id == screen_id).with_for_update().execution_options(populate_existing=True)).first()
    if screen is None:
        return CompileResult(screen_id, None, False, error=f"screen {screen_id} does not exist")
    latest: StoredHeader | ManifestRecord | None = cache.latest.get(screen_id)
    prefetched = screen_id in cache.schedule_ids and (latest.version if latest else 0) == screen.manifest_version
    if not prefetched:  # not read in bulk, or a version was issued since
        latest = latest_manifest(session, screen_id=screen_id)
    if screen.default_playlist_id is None:
        return CompileResult(screen_id, latest, False, error="screen has no default playlist")
    layout = screens_service.layout_of(screen)
    schedule_ids = cache.schedule_ids.get(screen_id)
    if schedule_ids is None:
        schedule_ids = schedules.schedule_ids_for_screen(session, screen_id=screen_id)
    resolved = _resolve(session, cache, tuple(schedule_ids), screen.default_playlist_id, layout.languages)
    default, rules, excluded = resolved.default, resolved.rules, list(resolved.excluded)
    if default is None:
        return CompileResult(screen_id, latest, False, excluded,
                             error=f"default playlist {screen.default_playlist_id} has no publishable slide")
    start, end = horizon_window(now, horizon_days)
    version = max(latest.version if latest else 0, screen.manifest_version) + 1
    if screen_id not in cache.brightness:
        cache.brightness.update(screen_brightness.plans_for(session, [screen], now=now))
    plan, plan_problem = cache.brightness[screen_id]
    if plan_problem is not None:
        excluded.append(Exclusion("brightness", str(screen_id), plan_problem))
    zones, playlists, slide_out, asset_out = _zones_for(session, screen, layout.languages, cache, excluded,
                                                        resolved.playlists, resolved.slides, resolved.assets)
    try:
        # Rules come from schedule rows read in this run, so their ids name the rule set; within one run
        # the playlists, slides and assets a rule set and a layout resolve to are the same for every screen.
        timeline_key = (resolved.rule_ids, default.id, start, end)
        template = cache.templates.get((timeline_key, layout, plan, zones))
        if template is None:
            if timeline_key not in cache.timelines:
                cache.timelines[timeline_key] = timeline(rules, default.id, start, end)
            template = build_manifest_template(
                screen_id=str(screen_id), version=version, issued_at=now, expires_at=end, layout=layout,
                rules=rules, default_playlist=default.id, playlists=playlists.values(), slides=slide_out.values(),
                assets=asset_out.values(), horizon_start=start, horizon_end=end,
                segments=cache.timelines[timeline_key], brightness=plan, zones=zones)
            cache.templates[(timeline_key, layout, plan, zones)] = template
        digest = template.content_hash(str(screen_id))
    except ManifestError as exc:
        return CompileResult(screen_id, latest, False, excluded, error=str(exc))
    reasons = excluded
    unchanged = (latest is not None and latest.content_hash == digest
                 and latest.expires_at - now > REFRESH_BEFORE_EXPIRY and latest.key_id == key.key_id)
    if unchanged:  # same content, not expiring, same key: the player already has it
        return CompileResult(screen_id, latest, False, reasons)
    try:
        signed = template.sign(screen_id=str(screen_id), version=version, issued_at=now, expires_at=end, key=key)
    except ManifestError as exc:
        return CompileResult(screen_id, latest, False, reasons, error=str(exc))
    issued = IssuedManifest(
        screen_id=screen_id, version=version, content_hash=signed.content_hash, key_id=signed.key_id,
        issued_at=now, expires_at=end, horizon_start=start, horizon_end=end, envelope_json=signed.envelope_json,
        asset_sha256s=tuple(sorted(template.body.assets)), excluded=tuple(reasons))
    set_committed_value(screen, "manifest_version", version)
    if flush:
        write_issued(session, [issued])
    else:
        cache.unwritten.append(issued)
    if reasons:
        log.info("manifest %s v%d for screen %s left out %d item(s): %s", signed.content_hash[:19], version,
                 screen_id, len(reasons), "; ".join(f"{e.kind} {e.id}: {e.reason}" for e in reasons))
    return CompileResult(screen_id, issued, True, reasons)


def compile_screens(
    session: Session, *, screen_ids: Iterable[int], key: SigningKey, now: datetime,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> list[CompileResult]:
    """Compile several screens sharing one cache; each screen once, in id order."""
    cache = CompileCache()
    screen_ids = sorted(set(screen_ids))
    session.flush()  # the edit that asked for this compile must be visible to its queries
    prefetch(session, cache, screen_ids)
    cache.brightness.update(screen_brightness.plans_for(
        session, [cache.locked[sid] for sid in screen_ids if sid in cache.locked], now=now))
    # Each screen once, so nothing read here depends on a version not yet written: write the batch once.
    with session.no_autoflush:
        results = [compile_screen(session, screen_id=sid, key=key, now=now, horizon_days=horizon_days, cache=cache,
                                  flush=False) for sid in screen_ids]
    write_issued(session, cache.unwritten)
    cache.unwritten.clear()
    return results
