"""Two compiles of the same screens at the same instant: every version issued once, in order, nothing lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from signage_core.manifest import verify_manifest
from signage_core.signing import SigningKey, TrustStore
from signage_server.db import session_factory, transaction
from signage_server.manifests import service as manifests
from signage_server.manifests.models import ManifestRecord
from signage_server.screens.models import Screen
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import START, all_at_once

THREADS = 6


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_concurrent_batches_issue_each_version_once_and_in_order(
        engine: Engine, seeded: dict[str, tuple[int, str]], module_world: dict[str, int]) -> None:
    with transaction(session_factory(engine)) as s:
        slides.approve_slide(s, actor=s.get_one(User, seeded["approver2"][0]), slide_id=module_world["slide"],
                             now=START)
    with Session(engine) as s:
        screen_ids = [sid for sid in s.exec(select(Screen.id)).all() if sid is not None]
    # A key per thread: the same content signed by a new key is a new version for every screen,
    # so every batch must issue, and the batches fight over the same rows.
    keys = [SigningKey.generate() for _ in range(THREADS)]

    def compile_all(key: SigningKey) -> Callable[[], int]:
        def run() -> int:
            with transaction(session_factory(engine)) as s:
                results = manifests.compile_screens(s, screen_ids=screen_ids, key=key,
                                                    now=START + timedelta(minutes=1))
            return sum(r.new_version for r in results)
        return run

    issued, errors = all_at_once([compile_all(key) for key in keys], timeout_s=120)
    assert errors == [] and len(issued) == THREADS and all(issued)
    trust = TrustStore.of(*(key.public_key for key in keys))
    with Session(engine) as s:
        for screen in s.exec(select(Screen)).all():
            records = s.exec(select(ManifestRecord).where(ManifestRecord.screen_id == screen.id)
                             .order_by(col(ManifestRecord.id))).all()
            if not records:
                continue  # a screen with nothing publishable (the world has one)
            versions = [r.version for r in records]
            # Stored in the order issued, one version each, no gap: no player ever sees a version reused.
            assert versions == list(range(versions[0], versions[0] + len(versions)))
            assert len({r.key_id for r in records[-THREADS:]}) == THREADS
            assert screen.manifest_version == versions[-1]
            body = verify_manifest(records[-1].envelope_json, trust=trust, screen_id=str(screen.id),
                                   last_version=versions[-2] if len(versions) > 1 else None,
                                   now=START + timedelta(minutes=2))
            assert body.version == versions[-1]
