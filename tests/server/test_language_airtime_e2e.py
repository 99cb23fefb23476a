"""Player -> server -> report: a rotate screen set up [vi, km, en] and a stacked screen, real app, broker and agents."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from player_agent.agent import Agent
from signage_core.languages import Language
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from tests.broker_fixtures import _require_mosquitto
from tests.player.agent_world import RecordingPng, Running, settings_for, wait_for
from tests.server.conftest import TEST_SECRET
from tests.server.world import enrol_player, seed_world

SPEED = 10  # the players' clocks run 10x: a 10 s slide plays in 1 s, each language a third of it


def fast_clock() -> Callable[[], datetime]:
    origin, mono = datetime.now(UTC), time.monotonic()
    return lambda: origin + timedelta(seconds=(time.monotonic() - mono) * SPEED)


class FastAgent(Agent):
    """Sleeps in the fast clock's time: a wait of 3.3 clock seconds is a third of a real one."""

    def _wait_until(self, wake: datetime) -> None:
        now = self.clock()
        super()._wait_until(now + (wake - now) / SPEED)


def start_fast(state_dir: Path) -> Running:
    settings = settings_for(state_dir, heartbeat_period_s=5)
    shown: list[tuple[float, Image.Image]] = []
    agent = FastAgent(settings, RecordingPng(settings.png_path, shown), clock=fast_clock())
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    return Running(agent, thread, shown)


@pytest.fixture()
def live(tmp_path: Path, password_hash: str) -> Iterator[tuple[TestClient, str, dict[str, int]]]:
    _require_mosquitto()
    engine = make_engine(f"sqlite:///{tmp_path / 'signage.db'}")
    upgrade_to_head(engine)
    tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET,
                             now=datetime(2026, 1, 1, tzinfo=UTC), approve_slide=True)
    settings = Settings(data_dir=tmp_path / "var", secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_port=0, mqtt_bind_host="127.0.0.1")
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client, tokens["admin"], ids
    engine.dispose()


def _language_minutes(client: TestClient, token: str, screen_id: int,
                      plays: dict[str, int] | None = None) -> dict[str, tuple[float, float | None]]:
    # The players' fast clocks run into the next days: a period wide enough to hold every play.
    today = datetime.now(UTC).date()
    r = client.get("/api/v1/reports/airtime", params={"screen_id": screen_id, "from": str(today - timedelta(days=1)),
                                                      "to": str(today + timedelta(days=2))},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    rows = r.json()["by_screen_language"]
    if plays is not None:
        plays.update({row["language"]: row["plays"] for row in rows})
    return {row["language"]: (row["minutes"], row["share_percent"]) for row in rows}


def _plays(client: TestClient, token: str, screen_id: int) -> int:
    counts: dict[str, int] = {}
    _language_minutes(client, token, screen_id, counts)
    return min(counts.values()) if len(counts) >= 3 else 0


def test_rotate_and_stacked_screens_report_each_languages_real_airtime(live: Any, tmp_path: Path) -> None:
    client, token, ids = live
    rotate_dir = enrol_player(client, token, ids, tmp_path, layout="rotate", languages=("vi", "km", "en"))
    stacked_dir = enrol_player(client, token, ids, tmp_path, layout="stacked")
    rotate_id, stacked_id = (int(d.name.removeprefix("player-")) for d in (rotate_dir, stacked_dir))
    players = [start_fast(d) for d in (rotate_dir, stacked_dir)]
    rotate: Agent = players[0].agent
    try:
        wait_for(lambda: all(p.agent.manifest is not None for p in players), 20, "both manifests")
        assert rotate.manifest is not None
        assert rotate.manifest.layout.languages == (Language.VI, Language.KM, Language.EN)  # the configured order
        # Eight plays: the first and last, cut by start and stop, weigh little against the whole ones.
        wait_for(lambda: _plays(client, token, rotate_id) >= 8 and _plays(client, token, stacked_id) >= 3, 40,
                 "plays of both screens reported")
    finally:
        for p in players:
            p.stop()
    rotated = _language_minutes(client, token, rotate_id)
    assert set(rotated) == {"vi", "km", "en"}
    for minutes, share in rotated.values():
        assert minutes > 0 and share is not None and share >= 20, rotated  # every language its share
    # The stored records say the order the screen showed them in: each rotate play Vietnamese, Khmer, English.
    today = datetime.now(UTC)
    r = client.get("/api/v1/playlog", params={"screen": rotate_id, "from": (today - timedelta(days=1)).isoformat(),
                                              "to": (today + timedelta(days=2)).isoformat()},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    full = [row for row in r.json()["items"] if len(row["segments"]) == 3]
    assert full and all([s["language"] for s in row["segments"]] == ["vi", "km", "en"] for row in full), full
    stacked = _language_minutes(client, token, stacked_id)
    assert stacked["en"][0] == stacked["km"][0] == stacked["vi"][0] > 0, stacked  # all three at once, all the time
