"""run-local restarts never fake work: a second start keeps what people did, and the broker port stays."""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from signage_server.captions import service as captions
from signage_server.captions.models import CaptionRevision, CaptionState
from signage_server.db import make_engine, saved_id
from signage_server.devstack import MQTT_PORT_FILE, Stack, StackConfig, choose_mqtt_port, free_port
from signage_server.slides import service as slides
from signage_server.users import service as users
from signage_server.users.models import User

PLAYLISTS = Path(__file__).resolve().parents[2] / "playlists"
EDIT = "Cửa khẩu Quốc tế Hoa Lư – bản sửa của cán bộ"


def _revisions(data_dir: Path, slide_name: str) -> list[tuple[str, str, str | None]]:
    engine = make_engine(f"sqlite:///{data_dir / 'signage.db'}")
    try:
        with Session(engine) as s:
            slide = slides.find_slide(s, name=slide_name)
            assert slide is not None
            rows = s.exec(select(CaptionRevision).where(CaptionRevision.slide_id == slide.id,
                                                       CaptionRevision.language == "vi")
                          .order_by(col(CaptionRevision.id))).all()
            names = {u.id: u.username for u in s.exec(select(User)).all()}
            return [(r.text, str(r.state), names.get(r.author_id) if r.author_id else None) for r in rows]
    finally:
        engine.dispose()


def test_a_second_start_keeps_ui_edits_and_unreviewed_uploads(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNAGE_SECRET_KEY", raising=False)
    data_dir = tmp_path / "var"
    stack = Stack(StackConfig(data_dir=data_dir, bin_dir=Path(sys.executable).parent, playlists=PLAYLISTS,
                              http_port=free_port(), mqtt_port=free_port()))
    stack.prepare()
    imported = _revisions(data_dir, "hoa-lu-gate")
    assert [state for _text, state, _who in imported] == ["approved"]  # the importer's text, approved for the demo
    # An operator, in the UI: a new text for a live slide, and a picture of their own, both handed in for review.
    engine = make_engine(f"sqlite:///{data_dir / 'signage.db'}")
    now = datetime.now(UTC)
    with Session(engine) as s:
        operator = users.find_user(s, username="operator")
        gate = slides.find_slide(s, name="hoa-lu-gate")
        assert operator is not None and gate is not None
        captions.write_caption(s, actor=operator, slide_id=saved_id(gate), language="vi", text=EDIT, submit=True,
                               now=now)
        upload = slides.create_slide(s, actor=operator, name="anh-moi-cua-can-bo", now=now)
        captions.write_caption(s, actor=operator, slide_id=saved_id(upload), language="vi", text="Ảnh mới",
                               submit=True, now=now)
        s.commit()
    engine.dispose()
    capsys.readouterr()
    stack.prepare()  # the second start
    said = capsys.readouterr().out
    assert "imported on the first start" in said and "left for a person" in said
    assert _revisions(data_dir, "hoa-lu-gate") == [*imported, (EDIT, CaptionState.SUBMITTED.value, "operator")]
    assert _revisions(data_dir, "anh-moi-cua-can-bo") == [("Ảnh mới", "submitted", "operator")]
    engine = make_engine(f"sqlite:///{data_dir / 'signage.db'}")
    with Session(engine) as s:
        assert slides.find_slide(s, name="anh-moi-cua-can-bo").approved_at is None  # type: ignore[union-attr]
    engine.dispose()


def test_the_mqtt_port_is_kept_and_reused(tmp_path: Path) -> None:
    first = choose_mqtt_port(tmp_path, 0)
    assert (tmp_path / MQTT_PORT_FILE).read_text().strip() == str(first)
    assert choose_mqtt_port(tmp_path, 0) == first  # a restart (or a restored var/) finds the same broker port
    asked = free_port()
    assert choose_mqtt_port(tmp_path, asked) == asked and choose_mqtt_port(tmp_path, 0) == asked
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", asked))
        taken.listen()
        with pytest.raises(RuntimeError, match=str(asked)):
            choose_mqtt_port(tmp_path, 0)  # never silently another port: enrolled players would not find it
