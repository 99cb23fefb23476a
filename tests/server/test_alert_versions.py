"""Alert versions stay unique and increasing when approvers act at the same instant, and after a restore."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from signage_core.signing import SigningKey
from signage_server.alerts import service as alerts
from signage_server.alerts.models import Alert, AlertSequence, AlertTemplate
from signage_server.db import (
    _alembic_config,
    make_engine,
    session_factory,
    transaction,
    upgrade_to_head,
)
from signage_server.errors import Invalid
from signage_server.users.models import User
from tests.server.conftest import START, all_at_once

THREADS = 8


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Recorder:
    """The broker side: every publish in the order the broker would receive it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versions: list[int] = []

    def publish_alert(self, group: str, payload: bytes) -> None:
        with self.lock:
            self.versions.append(int(json.loads(payload)["body"]["version"]))

    def clear_alert(self, group: str) -> None:
        pass


def _ids(engine: Engine, seeded: dict[str, tuple[int, str]], world: dict[str, int]) -> dict[str, int]:
    with Session(engine) as s:
        template = s.exec(select(AlertTemplate.id).where(AlertTemplate.key == "border-closure")).one()
    return {"template": template or 0, "screen": world["screen"], "approver": seeded["approver"][0],
            "approver2": seeded["approver2"][0]}


def _launcher(engine: Engine, ids: dict[str, int], who: str, key: SigningKey, broker: Recorder,
              now_offset_s: float = 0) -> Callable[[], int]:
    def launch() -> int:
        with transaction(session_factory(engine)) as s:
            actor = s.get_one(User, ids[who])
            now = START + timedelta(seconds=now_offset_s)
            alert = alerts.launch(s, actor=actor, template_id=ids["template"], group_ids=[],
                                  screen_ids=[ids["screen"]], expires_at=now + timedelta(hours=1), key=key,
                                  publisher=broker, now=now)
            return alert.version

    return launch


def _withdrawer(engine: Engine, ids: dict[str, int], alert_id: int, key: SigningKey,
                broker: Recorder) -> Callable[[], int]:
    def withdraw() -> int:
        with transaction(session_factory(engine)) as s:
            alert = alerts.withdraw(s, actor=s.get_one(User, ids["approver2"]), alert_id=alert_id, key=key,
                                    publisher=broker, now=START)
            return alert.withdrawal_version or 0

    return withdraw


def _issued_since(engine: Engine, first_id: int) -> list[tuple[int, int | None]]:
    with Session(engine) as s:
        rows = s.exec(select(Alert.version, Alert.withdrawal_version).where(col(Alert.id) >= first_id)
                      .order_by(col(Alert.id))).all()
    return [(v, w) for v, w in rows]


def test_approvers_launching_at_the_same_instant_all_succeed_with_increasing_versions(
        engine: Engine, seeded: dict[str, tuple[int, str]], module_world: dict[str, int]) -> None:
    ids, key, broker = _ids(engine, seeded, module_world), SigningKey.generate(), Recorder()
    before = _launcher(engine, ids, "approver", key, broker)()
    jobs = [_launcher(engine, ids, "approver" if i % 2 else "approver2", key, broker) for i in range(THREADS)]
    versions, errors = all_at_once(jobs)
    assert errors == []
    assert len(versions) == THREADS and len(set(versions)) == THREADS and min(versions) > before
    # Issued in the order they were stored, and reached the broker in that order: no screen drops one as stale.
    stored = [v for v, _ in _issued_since(engine, 0)]
    assert stored == sorted(stored) and len(set(stored)) == len(stored)
    assert broker.versions == sorted(broker.versions) and len(broker.versions) == THREADS + 1


def test_withdrawals_racing_launches_get_their_own_versions(
        engine: Engine, seeded: dict[str, tuple[int, str]], module_world: dict[str, int]) -> None:
    ids, key, broker = _ids(engine, seeded, module_world), SigningKey.generate(), Recorder()
    launched = [_launcher(engine, ids, "approver", key, broker)() for _ in range(THREADS // 2)]
    with Session(engine) as s:
        alert_ids = list(s.exec(select(Alert.id).where(col(Alert.version).in_(launched))).all())
    jobs = [_withdrawer(engine, ids, alert_id or 0, key, broker) for alert_id in alert_ids]
    jobs += [_launcher(engine, ids, "approver2", key, broker) for _ in range(THREADS // 2)]
    broker.versions.clear()
    versions, errors = all_at_once(jobs)
    assert errors == []
    assert len(versions) == THREADS and len(set(versions)) == THREADS and min(versions) > max(launched)
    assert set(versions) & set(launched) == set()
    # A withdrawal also puts older running alerts back in the retained slot; the new versions go out in order.
    fresh = [v for v in dict.fromkeys(broker.versions) if v in versions]
    assert fresh == sorted(versions)


def test_the_same_alert_withdrawn_twice_at_once_is_withdrawn_once(
        engine: Engine, seeded: dict[str, tuple[int, str]], module_world: dict[str, int]) -> None:
    ids, key, broker = _ids(engine, seeded, module_world), SigningKey.generate(), Recorder()
    version = _launcher(engine, ids, "approver", key, broker)()
    with Session(engine) as s:
        alert_id = s.exec(select(Alert.id).where(Alert.version == version)).one() or 0
    versions, errors = all_at_once([_withdrawer(engine, ids, alert_id, key, broker) for _ in range(3)])
    assert len(versions) == 1 and len(errors) == 2
    assert all("already withdrawn" in str(e) for e in errors)


def test_versions_stay_above_what_players_accepted_after_an_older_backup_is_restored(
        engine: Engine, seeded: dict[str, tuple[int, str]], module_world: dict[str, int]) -> None:
    ids, key, broker = _ids(engine, seeded, module_world), SigningKey.generate(), Recorder()
    with Session(engine) as s:
        backed_up = s.get_one(AlertSequence, 1).last_version  # the counter as a nightly backup holds it
    accepted = [_launcher(engine, ids, "approver", key, broker, now_offset_s=60 * i)() for i in range(1, 4)]
    with Session(engine) as s:  # the restore: the alerts issued since are gone, the counter is the backup's
        for alert in s.exec(select(Alert).where(col(Alert.version).in_(accepted))).all():
            s.delete(alert)
        sequence = s.get_one(AlertSequence, 1)
        sequence.last_version = backed_up
        s.add(sequence)
        s.commit()
    after = _launcher(engine, ids, "approver", key, broker, now_offset_s=3600)()
    assert after > max(accepted)


def test_the_upgrade_continues_from_the_highest_version_already_issued(db_kind: str, fresh_database: Any) -> None:
    engine = make_engine(fresh_database(db_kind))
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0007_reports")
    with engine.begin() as conn:
        template = conn.execute(sa.text("SELECT id FROM alert_templates ORDER BY id")).scalar()
        for version, withdrawal in ((41, 57), (58, None)):
            conn.execute(sa.text(
                "INSERT INTO alerts (template_id, version, captions, group_ids, screen_ids, topics, issued_at, "
                "expires_at, envelope, withdrawal_version) VALUES (:t, :v, '{}', '[]', '[]', '[]', :at, :at, '', :w)"),
                {"t": template, "v": version, "w": withdrawal, "at": START})
    upgrade_to_head(engine)
    with Session(engine) as s:
        assert s.get_one(AlertSequence, 1).last_version == 58
    engine.dispose()


def test_alert_text_keeps_only_configured_languages_and_names_an_unknown_one() -> None:
    # A template written while Russian was configured, launched after it left languages.toml:
    # the player would refuse the whole alert for the one code it lacks, so that text stays behind.
    template = AlertTemplate(key="closure", name="Đóng cửa khẩu", captions={
        "vi": "Cửa khẩu tạm đóng", "en": "Border gate closed", "ru": "Пункт закрыт"}, created_at=START)
    captions = alerts.alert_captions(template, {"km": "  ច្រកព្រំដែន  បិទ "})
    assert captions == {"vi": "Cửa khẩu tạm đóng", "en": "Border gate closed", "km": "ច្រកព្រំដែន បិទ"}
    with pytest.raises(Invalid) as refused:
        alerts.alert_captions(template, {"xx": "text"})
    assert "'xx'" in str(refused.value)
