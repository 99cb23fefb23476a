"""Manifest history: what each screen was issued, when it expires, what it was meant to show."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func, select

from signage_core.manifest import ManifestBody, NowPlaying, now_playing
from signage_core.schedule import require_aware
from signage_core.signing import Envelope, body_as
from signage_server.errors import NotFound
from signage_server.manifests.models import ManifestRecord
from signage_server.screens.models import Screen

# Re-sign an unchanged manifest when it would otherwise expire this soon (players refuse expired ones).
REFRESH_BEFORE_EXPIRY = timedelta(days=2)

_IN_CHUNK = 500  # ids per IN (...) list: well under every backend's bound-parameter limit


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    return (ids[i:i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK))



def latest_manifest(session: Session, *, screen_id: int) -> ManifestRecord | None:
    """The newest manifest issued for a screen (what the transport publishes, retained)."""
    return session.exec(select(ManifestRecord).where(ManifestRecord.screen_id == screen_id)
                        .order_by(col(ManifestRecord.version).desc()).limit(1)).first()


def latest_manifests(session: Session, *, screen_ids: Sequence[int]) -> dict[int, ManifestRecord]:
    """latest_manifest for many screens in a few queries."""
    out: dict[int, ManifestRecord] = {}
    for chunk in chunks(sorted(set(screen_ids))):
        for record in session.exec(_newest_only(select(ManifestRecord), chunk)).all():
            out[record.screen_id] = record
    return out


@dataclass(frozen=True, slots=True)
class StoredHeader:
    """A stored version without its envelope: what a recompile or an expiry check compares against."""

    screen_id: int
    version: int
    content_hash: str
    key_id: str
    expires_at: datetime


def latest_headers(session: Session, *, screen_ids: Sequence[int]) -> dict[int, StoredHeader]:
    """The newest version's header per screen, read as columns: a province's recompile asks it of 1,000 screens."""
    out: dict[int, StoredHeader] = {}
    columns = sa_select(*(col(c) for c in (ManifestRecord.screen_id, ManifestRecord.version,
                                           ManifestRecord.content_hash, ManifestRecord.key_id,
                                           ManifestRecord.expires_at)))
    for chunk in chunks(sorted(set(screen_ids))):
        for screen_id, version, content_hash, key_id, expires_at in session.execute(_newest_only(columns, chunk)):
            out[screen_id] = StoredHeader(screen_id, version, content_hash, key_id, expires_at)
    return out


def _newest_only(query: Any, chunk: Sequence[int]) -> Any:
    """The query's manifest_records rows restricted to each screen's highest version, for screens in the chunk."""
    newest = (select(ManifestRecord.screen_id, func.max(ManifestRecord.version).label("version"))
              .where(col(ManifestRecord.screen_id).in_(chunk)).group_by(col(ManifestRecord.screen_id)).subquery())
    return query.join(newest, (col(ManifestRecord.screen_id) == newest.c.screen_id)
                      & (col(ManifestRecord.version) == newest.c.version))


def manifest_assets(session: Session, *, screen_id: int) -> frozenset[str]:
    """Asset sha256s of the latest manifest: the only assets this screen may fetch."""
    # Asked on every chunk request: read the one column, not the record and its envelope.
    sha256s = session.exec(select(ManifestRecord.asset_sha256s).where(ManifestRecord.screen_id == screen_id)
                           .order_by(col(ManifestRecord.version).desc()).limit(1)).first()
    return frozenset(sha256s) if sha256s is not None else frozenset()


def body_of(record: ManifestRecord) -> ManifestBody:
    """The signed body stored in a record (the server trusts its own history without re-verifying)."""
    return body_as(Envelope.model_validate_json(record.envelope_json), ManifestBody)


def all_screen_ids(session: Session) -> list[int]:
    return [sid for sid in session.exec(select(Screen.id).order_by(col(Screen.id))).all() if sid is not None]


def expiring_screen_ids(session: Session, *, now: datetime, within: timedelta = REFRESH_BEFORE_EXPIRY) -> list[int]:
    """Screens with no manifest yet, or whose latest manifest expires within `within`."""
    ids = all_screen_ids(session)
    latest = latest_headers(session, screen_ids=ids)
    return [sid for sid in ids if sid not in latest or latest[sid].expires_at - now <= within]


def list_manifests(session: Session, *, screen_id: int, limit: int, offset: int) -> tuple[list[ManifestRecord], int]:
    """A screen's manifest history, newest first."""
    from signage_server.pagination import paginate

    query = select(ManifestRecord).where(ManifestRecord.screen_id == screen_id).order_by(
        col(ManifestRecord.version).desc())
    return paginate(session, query, limit=limit, offset=offset)


def get_manifest(session: Session, *, screen_id: int, version: int) -> ManifestRecord:
    record = session.exec(select(ManifestRecord).where(ManifestRecord.screen_id == screen_id,
                                                       ManifestRecord.version == version)).first()
    if record is None:
        raise NotFound("manifest", f"{screen_id}/v{version}")
    return record


@dataclass(frozen=True)
class Expected:
    """What a screen was supposed to show at an instant, per the manifest in force then."""

    record: ManifestRecord
    playing: NowPlaying


def expected_at(session: Session, *, screen_id: int, at: datetime) -> Expected | None:
    """The manifest in force at `at` (newest issued at or before it) and the item it schedules then."""
    at = require_aware(at, "at")
    record = session.exec(select(ManifestRecord).where(ManifestRecord.screen_id == screen_id,
                                                       ManifestRecord.issued_at <= at)
                          .order_by(col(ManifestRecord.version).desc()).limit(1)).first()
    if record is None:
        return None
    return Expected(record, now_playing(body_of(record), at))


def record_summary(record: ManifestRecord) -> dict[str, Any]:
    """The history row without the (large) envelope."""
    return {"screen_id": record.screen_id, "version": record.version, "content_hash": record.content_hash,
            "issued_at": record.issued_at, "expires_at": record.expires_at, "key_id": record.key_id,
            "horizon_start": record.horizon_start, "horizon_end": record.horizon_end,
            "asset_sha256s": record.asset_sha256s, "excluded": record.excluded}
