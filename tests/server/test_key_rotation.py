"""Key rotation end to end: real app, its Mosquitto and real player agents, online and offline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from player_agent.agent import Agent
from signage_core.protocol import KeyHandoverChain, decode, key_handovers_topic, parse_broker_url
from signage_core.signing import Envelope, SigningKey, make_key_handover
from signage_server.app import create_app
from signage_server.config import Settings
from signage_server.db import make_engine, upgrade_to_head
from signage_server.manifests.keys import KeyRing
from signage_server.transport.service import TransportService
from tests.broker_fixtures import RawClient, _require_mosquitto
from tests.player.agent_world import Running, settings_for, start_agent, wait_for
from tests.server.conftest import TEST_SECRET
from tests.server.world import enrol_player, seed_world

CHECK_INTERVAL_S = 1


@dataclass
class Live:
    app: Any
    client: TestClient
    token: str
    ids: dict[str, int]
    engine: Engine
    settings: Settings
    root: Path

    @property
    def transport(self) -> TransportService:
        transport: TransportService = self.app.state.transport
        return transport

    @property
    def ring(self) -> KeyRing:
        ring: KeyRing = self.app.state.key_ring
        return ring


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, password_hash: str) -> Iterator[Live]:
    _require_mosquitto()
    root = tmp_path_factory.mktemp("rotation")
    engine = make_engine(f"sqlite:///{root / 'signage.db'}")
    upgrade_to_head(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tokens, ids = seed_world(engine, password_hash=password_hash, secret=TEST_SECRET, now=now, approve_slide=True)
    token = tokens["admin"]
    # The scheduler runs: its key watch is what notices a CLI rotation.
    settings = Settings(data_dir=root / "var", secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_port=0, mqtt_bind_host="127.0.0.1", run_scheduler=True,
                        key_check_interval_s=CHECK_INTERVAL_S)
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        yield Live(app, client, token, ids, engine, settings, root)
    engine.dispose()


def enrolled_player(live: Live, tmp_path: Path) -> Path:
    return enrol_player(live.client, live.token, live.ids, tmp_path)


def signer_of(agent: Agent) -> str | None:
    raw = agent.manifest_raw
    return Envelope.model_validate_json(raw).key_id if raw is not None else None


def playing(live: Live, agent: Agent) -> bool:
    """The agent shows a manifest signed by the server's current key."""
    return agent.manifest is not None and signer_of(agent) == live.ring.current().key_id


class Watcher:
    """Samples what an agent plays, to prove there is never a moment without a manifest."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.samples: list[tuple[int | None, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            manifest = self.agent.manifest
            self.samples.append((manifest.version if manifest else None, self.agent.last_error))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def start_player(state_dir: Path) -> Running:
    return start_agent(settings_for(state_dir, heartbeat_period_s=5))


def test_rotation_while_online_moves_the_player_to_the_new_key_without_a_gap(live: Live, tmp_path: Path) -> None:
    running = start_player(enrolled_player(live, tmp_path))
    try:
        agent = running.agent
        wait_for(lambda: playing(live, agent), 15, "first manifest")
        old_key, first_version = live.ring.current().key_id, agent.manifest.version if agent.manifest else 0
        watcher = Watcher(agent)
        started = time.monotonic()
        rotation = live.app.state.key_watch.rotate(now=datetime.now(UTC))
        wait_for(lambda: signer_of(agent) == rotation.new_key_id, 10, "manifest signed by the new key")
        took = time.monotonic() - started
        watcher.stop()
        assert rotation.old_key_id == old_key
        assert agent.manifest is not None and agent.manifest.version > first_version
        assert rotation.new_key_id in agent.trust.keys and old_key in agent.trust.retired
        assert all(version is not None for version, _ in watcher.samples), "the screen lost its manifest"
        assert not any(error and "refused" in error for _, error in watcher.samples), watcher.samples[-1]
        assert took < 5, f"switching took {took:.1f}s"
    finally:
        running.stop()


def test_rotation_while_offline_is_applied_on_restart_whatever_the_order(live: Live, tmp_path: Path) -> None:
    state_dir = enrolled_player(live, tmp_path)
    running = start_player(state_dir)
    wait_for(lambda: playing(live, running.agent), 15, "first manifest")
    running.stop()
    # Two rotations while it is away: it must apply both hand-overs, in order.
    first = live.app.state.key_watch.rotate(now=datetime.now(UTC))
    second = live.app.state.key_watch.rotate(now=datetime.now(UTC))
    running = start_player(state_dir)
    try:
        agent = running.agent
        assert first.old_key_id in agent.trust.keys and second.new_key_id not in agent.trust.keys
        wait_for(lambda: signer_of(agent) == second.new_key_id, 15, "manifest signed by the newest key")
        assert set(agent.trust.retired) >= {first.old_key_id, second.old_key_id}
        # A manifest that came before the chain was refused for a moment; accepting it clears that.
        wait_for(lambda: agent.last_error is None, 2, "the refusal to clear")
    finally:
        running.stop()
    # The trust store was persisted: a reboot without network still verifies the new manifest.
    again = Agent(settings_for(state_dir), running.agent.output, link_factory=lambda: None)
    try:
        assert again.manifest is not None and signer_of(again) == second.new_key_id
    finally:
        again.journal.close()
        again.cache.close()


def test_a_forged_hand_over_on_the_topic_is_refused_and_changes_nothing(live: Live, tmp_path: Path) -> None:
    running = start_player(enrolled_player(live, tmp_path))
    admin = RawClient(live.transport.params)  # type: ignore[arg-type]
    try:
        agent = running.agent
        wait_for(lambda: playing(live, agent), 15, "first manifest")
        trusted_before, version_before = agent.trust, agent.manifest.version if agent.manifest else 0
        thief_old, thief_new = SigningKey.generate(), SigningKey.generate()
        forged = make_key_handover(thief_old, thief_new.public_key, issued_at=datetime.now(UTC), old_key_valid_until=None)
        # Claims to come from the server's current key, but the thief signed it.
        impostor = forged.model_copy(update={"key_id": live.ring.current().key_id,
                                             "body": {**forged.body, "old_key_id": live.ring.current().key_id}})
        chain = KeyHandoverChain(handovers=[*(e.model_dump(mode="json") for e in live.ring.handovers()),
                                            forged.model_dump(mode="json"), impostor.model_dump(mode="json")])
        assert not admin.connect().is_failure
        admin.publish(key_handovers_topic(), chain.model_dump_json().encode(), retain=True)
        wait_for(lambda: agent.last_error and "bad_signature" in agent.last_error, 5, "refusal reported")
        assert agent.trust == trusted_before
        assert thief_new.key_id not in agent.trust.keys
        assert agent.manifest is not None and agent.manifest.version == version_before
    finally:
        live.transport.publish_key_chain()  # the real chain back for the other tests
        admin.close()
        running.stop()


def test_screens_read_the_chain_but_cannot_write_it(live: Live, tmp_path: Path) -> None:
    state_dir = enrolled_player(live, tmp_path)
    live.app.state.key_watch.rotate(now=datetime.now(UTC))
    from player_agent.state import StateStore

    st = StateStore(state_dir / "state.json").state
    assert st.broker_url and st.broker_username and st.broker_password
    params = parse_broker_url(st.broker_url).with_credentials(st.broker_username, st.broker_password.get_secret_value())
    screen = RawClient(params, client_id=f"screen-{st.screen_id}")
    try:
        assert not screen.connect().is_failure
        assert screen.subscribe(key_handovers_topic())
        got = screen.receive(5)
        assert got is not None and got.retain
        chain = decode(KeyHandoverChain, bytes(got.payload))
        assert [Envelope.model_validate(h) for h in chain.handovers] == live.ring.handovers()
        screen.publish(key_handovers_topic(), b'{"handovers": []}', retain=True)
        time.sleep(0.3)
    finally:
        screen.close()
    listener = RawClient(params, client_id=f"screen-{st.screen_id}")
    try:
        assert not listener.connect().is_failure and listener.subscribe(key_handovers_topic())
        got = listener.receive(5)
        assert got is not None and len(decode(KeyHandoverChain, bytes(got.payload)).handovers) >= 1
    finally:
        listener.close()


def test_cli_rotation_while_the_server_runs_reaches_players_within_the_check_interval(live: Live, tmp_path: Path) -> None:
    running = start_player(enrolled_player(live, tmp_path))
    try:
        agent = running.agent
        wait_for(lambda: playing(live, agent), 15, "first manifest")
        old_key = live.ring.current().key_id
        env = {**os.environ, "SIGNAGE_DATA_DIR": str(live.settings.data_dir), "SIGNAGE_SECRET_KEY": TEST_SECRET,
               "SIGNAGE_DATABASE_URL": f"sqlite:///{live.root / 'signage.db'}"}
        done = subprocess.run([sys.executable, "-m", "signage_server.cli", "key", "rotate"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        finished = time.monotonic()
        new_key = KeyRing(live.settings.data_dir).current().key_id
        assert new_key != old_key and f"rotated {old_key} -> {new_key}" in done.stdout
        wait_for(lambda: signer_of(agent) == new_key, CHECK_INTERVAL_S + 10, "re-signed manifest from the CLI")
        took = time.monotonic() - finished
        assert new_key in agent.trust.keys
        assert took < CHECK_INTERVAL_S + 5, f"players waited {took:.1f}s"
    finally:
        running.stop()


def test_chain_is_put_back_after_the_managed_broker_is_killed(live: Live, tmp_path: Path) -> None:
    """Runs last in this module: it kills the broker the others use."""
    state_dir = enrolled_player(live, tmp_path)
    from player_agent.state import StateStore

    st = StateStore(state_dir / "state.json").state
    assert st.broker_url and st.broker_username and st.broker_password
    params = parse_broker_url(st.broker_url).with_credentials(st.broker_username, st.broker_password.get_secret_value())
    broker = live.transport.broker
    assert broker is not None and broker.pid is not None
    live.app.state.key_watch.rotate(now=datetime.now(UTC))
    expected = live.ring.handovers()
    os.kill(broker.pid, signal.SIGKILL)  # at once: persistence does not have the new chain on disk yet
    wait_for(lambda: broker.restarts >= 1, 10, "broker restart")
    broker.wait_ready()

    def chain_on_broker() -> list[Envelope] | None:
        client = RawClient(params, client_id=f"screen-{st.screen_id}")
        try:
            if client.connect().is_failure or not client.subscribe(key_handovers_topic()):
                return None
            got = client.receive(1)
            return None if got is None else [Envelope.model_validate(h) for h in
                                             decode(KeyHandoverChain, bytes(got.payload)).handovers]
        finally:
            client.close()

    deadline = time.monotonic() + 10
    while (found := chain_on_broker()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found == expected
