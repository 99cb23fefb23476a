"""HTTP for manifest history ("what was screen S supposed to show at T"), compiling, and the key."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from signage_server.deps import CurrentUser, RecompilerDep, RequireRole, SessionDep, SigningKeyDep
from signage_server.manifests import service
from signage_server.manifests.schemas import (
    CompileRead,
    ExpectedRead,
    ManifestDetail,
    ManifestSummary,
    SigningKeyRead,
)
from signage_server.pagination import Page, PageDep
from signage_server.screens import service as screens
from signage_server.users.models import Role, User

router = APIRouter(tags=["manifests"])


@router.get("/screens/{screen_id}/manifests", response_model=Page[ManifestSummary])
def list_manifests(screen_id: int, session: SessionDep, user: CurrentUser, page: PageDep) -> Page[ManifestSummary]:
    items, total = service.list_manifests(session, screen_id=screen_id, limit=page.limit, offset=page.offset)
    return Page(items=[ManifestSummary.model_validate(service.record_summary(r)) for r in items], total=total,
                limit=page.limit, offset=page.offset)


@router.get("/screens/{screen_id}/manifests/at")
def manifest_at(screen_id: int, session: SessionDep, user: CurrentUser,
                time: Annotated[datetime, Query(description="instant, with its offset")]) -> ExpectedRead:
    """What the screen was supposed to show at `time`, per the manifest in force then."""
    from signage_server.errors import Invalid

    if time.tzinfo is None:
        raise Invalid("time must carry its offset, e.g. 2026-03-01T08:00:00Z", field="time")
    expected = service.expected_at(session, screen_id=screen_id, at=time)
    if expected is None:
        return ExpectedRead(screen_id=screen_id, at=time, version=None, playlist_ids=[], slide_id=None, captions={},
                            started_at=None, until=None, is_default=False, stale=False)
    playing = expected.playing
    return ExpectedRead(screen_id=screen_id, at=time, version=expected.record.version,
                        playlist_ids=list(playing.playlist_ids), slide_id=playing.slide.id,
                        captions={lang.value: text for lang, text in playing.slide.captions.items()},
                        started_at=playing.started_at, until=playing.until, is_default=playing.is_default,
                        stale=playing.stale)


@router.get("/screens/{screen_id}/manifests/{version}")
def get_manifest(screen_id: int, version: int, session: SessionDep, user: CurrentUser) -> ManifestDetail:
    record = service.get_manifest(session, screen_id=screen_id, version=version)
    return ManifestDetail.model_validate({**service.record_summary(record), "envelope": json.loads(record.envelope_json)})


@router.post("/screens/{screen_id}/manifests/compile")
def compile_now(screen_id: int, recompiler: RecompilerDep, session: SessionDep,
                user: Annotated[User, RequireRole(Role.ADMIN, Role.OPERATOR)]) -> CompileRead:
    """Compile now; a new version only if the content changed. Listeners hear of it after commit."""
    screens.get_screen(session, screen_id=screen_id)
    [result] = recompiler.compile_results(session, {screen_id})  # a new version is announced after commit
    return CompileRead(screen_id=screen_id, version=result.record.version if result.record else None,
                       new_version=result.new_version, excluded=[e.as_dict() for e in result.excluded],
                       error=result.error)


@router.get("/manifests/signing-key")
def signing_key(key: SigningKeyDep, user: CurrentUser) -> SigningKeyRead:
    """The public half, so people can compare the fingerprint with what a player shows."""
    public = key.public_key
    return SigningKeyRead(key_id=public.key_id, public_key=public.base64, fingerprint=public.fingerprint)
