"""An unsaved row's id is an error, never id 0 (which would name no row, or the wrong one)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from signage_server.db import UnsavedRow, saved_id
from signage_server.screens.models import Site
from tests.server.conftest import START


def test_an_unsaved_row_raises_and_a_flushed_one_gives_its_id(session: Session) -> None:
    site = Site(name="Cửa khẩu Mộc Bài", slug="moc-bai-unsaved", created_at=START)
    session.add(site)
    with pytest.raises(UnsavedRow, match="Site has no id yet"):
        saved_id(site)
    session.flush()
    assert site.id is not None
    assert saved_id(site) == site.id
