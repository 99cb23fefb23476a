"""The manifest publisher's queue: envelopes signed in this process go out as they are, the newest per screen."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from signage_server.config import Settings
from signage_server.transport.service import TransportService, queue_newest
from tests.server.conftest import TEST_SECRET


def test_the_queue_keeps_the_newest_version_and_defers_to_the_database_when_one_is_unknown() -> None:
    queue: dict[str, tuple[int, bytes] | None] = {}
    queue_newest(queue, ["1", "2", "3"], {"1": (5, b"v5"), "2": (2, b"v2")})
    queue_newest(queue, [1, 2], {"1": (4, b"v4"), "2": (3, b"v3")})  # commit listeners may run out of order
    assert queue == {"1": (5, b"v5"), "2": (3, b"v3"), "3": None}
    queue_newest(queue, ["1"], {})  # announced without its envelope: the database's newest, read at publish time
    queue_newest(queue, ["1"], {"1": (9, b"v9")})
    assert queue["1"] is None


def test_signed_envelopes_are_published_without_reading_them_back(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    read_back: list[list[int]] = []

    def latest_envelopes(_session: Session, screen_ids: Any) -> dict[int, bytes]:
        read_back.append(list(screen_ids))
        return {}

    transport = TransportService(
        Settings(data_dir=tmp_path, secret_key=TEST_SECRET), sessions=lambda: pytest.fail("no session needed"),
        clock=lambda: datetime(2026, 3, 1, tzinfo=UTC), path_for=lambda _sha: None,
        latest_envelopes=latest_envelopes, manifest_assets=lambda _s, _sid: frozenset(), handovers=list)
    published: list[list[tuple[str, bytes]]] = []
    from_database: list[list[str]] = []
    monkeypatch.setattr(transport, "publish_manifests", lambda items: published.append(list(items)))
    monkeypatch.setattr(transport, "on_manifests", lambda ids: from_database.append(sorted(ids)))
    transport.on_manifests_later(["7", "12"], {"12": (3, b"twelve"), "7": (1, b"seven")})
    transport.on_manifests_later(["8"])  # enrolment: an existing manifest, id only
    transport.stop()  # waits for the publisher
    sent = [item for batch in published for item in batch]
    assert sorted(sent) == [("12", b"twelve"), ("7", b"seven")]
    assert [sid for batch in from_database for sid in batch] == ["8"] and read_back == []


def test_an_envelope_queued_late_never_replaces_a_newer_one_already_published(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transport = TransportService(
        Settings(data_dir=tmp_path, secret_key=TEST_SECRET), sessions=lambda: pytest.fail("no session needed"),
        clock=lambda: datetime(2026, 3, 1, tzinfo=UTC), path_for=lambda _sha: None,
        latest_envelopes=lambda _s, _ids: {}, manifest_assets=lambda _s, _sid: frozenset(), handovers=list)
    published: list[tuple[str, bytes]] = []
    monkeypatch.setattr(transport, "publish_manifests", lambda items: published.extend(items))
    transport.on_manifests_later(["7"], {"7": (6, b"v6")})
    transport._publisher.submit(lambda: None).result()  # v6 is out
    # The request that committed v5 was descheduled between its commit and its listener.
    transport.on_manifests_later(["7"], {"7": (5, b"v5")})
    transport.stop()
    assert published == [("7", b"v6")]
