"""The player's side of key rotation: the retained hand-over chain, in any order, applied once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from player_agent.enrol import TRUST_FILE
from signage_core.protocol import KeyHandoverChain, encode
from signage_core.signing import (
    Envelope,
    SigningKey,
    TrustStore,
    load_trust_store,
    make_key_handover,
    save_trust_store,
)
from tests.player.agent_world import (
    SERVER_KEY,
    Running,
    enrol_state,
    manifest,
    now_utc,
    settings_for,
    signed,
    start_agent,
)
from tests.polling import eventually

SECOND, THIRD = SigningKey.generate(), SigningKey.generate()
NOW = now_utc()
# SERVER_KEY -> SECOND with a day's grace, then SECOND -> THIRD retired at once (a compromised key).
FIRST_HANDOVER = make_key_handover(SERVER_KEY, SECOND.public_key, issued_at=NOW, old_key_valid_until=NOW + timedelta(days=1))
SECOND_HANDOVER = make_key_handover(SECOND, THIRD.public_key, issued_at=NOW, old_key_valid_until=None)


def chain(*handovers: Envelope) -> bytes:
    return encode(KeyHandoverChain(handovers=[h.model_dump(mode="json") for h in handovers]))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    enrol_state(tmp_path / "state", "gate-1")
    return tmp_path / "state"


@pytest.fixture
def running(state_dir: Path) -> Iterator[Running]:
    # No link: the test delivers messages as the network thread would, in the order it chooses.
    run = start_agent(settings_for(state_dir), link_factory=lambda: None)
    eventually(lambda: run.shown, 5, "first frame")
    yield run
    run.stop()


def deliver(run: Running, kind: str, payload: bytes) -> None:
    agent = run.agent
    handler = agent._on_key_chain if kind == "chain" else agent._on_manifest
    agent._post(lambda: handler(payload))


@pytest.mark.parametrize("order", [("chain", "manifest"), ("manifest", "chain")])
def test_missed_hand_overs_and_new_manifest_are_accepted_in_either_order(
        running: Running, state_dir: Path, order: tuple[str, str]) -> None:
    payloads = {"chain": chain(FIRST_HANDOVER, SECOND_HANDOVER), "manifest": signed(manifest("gate-1", 5, now=NOW), THIRD)}
    for kind in order:
        deliver(running, kind, payloads[kind])
    agent = running.agent
    eventually(lambda: agent.manifest is not None and agent.manifest.version == 5, 5, "manifest v5 signed by the third key")
    assert set(agent.trust.keys) == {SERVER_KEY.key_id, THIRD.key_id}  # the first key keeps its grace day
    assert agent.trust.keys[SERVER_KEY.key_id].not_after == NOW + timedelta(days=1)
    assert set(agent.trust.retired) == {SERVER_KEY.key_id, SECOND.key_id}
    eventually(lambda: agent.last_error is None, 2, "no refusal left standing")
    assert load_trust_store(state_dir / TRUST_FILE) == agent.trust  # persisted before use


def test_chain_delivered_again_or_grown_applies_only_what_is_new(running: Running) -> None:
    agent = running.agent
    deliver(running, "chain", chain(FIRST_HANDOVER))
    eventually(lambda: SECOND.key_id in agent.trust.keys, 5, "first hand-over")
    after_first = agent.trust
    deliver(running, "chain", chain(FIRST_HANDOVER))  # retained, re-delivered on every reconnect
    deliver(running, "chain", chain(FIRST_HANDOVER, SECOND_HANDOVER))
    eventually(lambda: THIRD.key_id in agent.trust.keys, 5, "second hand-over")
    assert after_first.retired == (SERVER_KEY.key_id,)
    assert SECOND.key_id not in agent.trust.keys
    deliver(running, "chain", chain(FIRST_HANDOVER, SECOND_HANDOVER))
    deliver(running, "manifest", signed(manifest("gate-1", 2, now=NOW), THIRD))
    eventually(lambda: agent.manifest is not None, 5, "manifest")
    assert agent.last_error is None


def test_player_enrolled_after_a_rotation_skips_the_hand_overs_before_its_key(state_dir: Path) -> None:
    save_trust_store(TrustStore.of(SECOND.public_key), state_dir / TRUST_FILE)
    run = start_agent(settings_for(state_dir), link_factory=lambda: None)
    try:
        deliver(run, "chain", chain(FIRST_HANDOVER, SECOND_HANDOVER))
        eventually(lambda: THIRD.key_id in run.agent.trust.keys, 5, "the hand-over from its own key")
        assert run.agent.last_error is None
        assert run.agent.trust.retired == (SECOND.key_id,)
    finally:
        run.stop()


def test_forged_hand_over_in_the_chain_is_refused_and_the_real_ones_still_apply(running: Running) -> None:
    thief, thief_new = SigningKey.generate(), SigningKey.generate()
    forged = make_key_handover(thief, thief_new.public_key, issued_at=NOW, old_key_valid_until=None)
    agent = running.agent
    deliver(running, "chain", chain(FIRST_HANDOVER, forged))
    eventually(lambda: agent.last_error is not None, 5, "refusal reported")
    assert "key handover refused: unknown_key" in (agent.last_error or "")
    assert thief_new.key_id not in agent.trust.keys and SECOND.key_id in agent.trust.keys


def test_unreadable_chain_is_reported_and_changes_nothing(running: Running) -> None:
    agent = running.agent
    before = agent.trust
    deliver(running, "chain", b'{"handovers": "all of them"}')
    eventually(lambda: agent.last_error is not None, 5, "refusal reported")
    assert "key hand-over chain refused" in (agent.last_error or "") and agent.trust is before


@pytest.mark.parametrize("topic", ["manifest", "command"])
def test_a_hand_over_outside_the_chain_is_refused(running: Running, topic: str) -> None:
    """The server sends hand-overs only in the retained chain; elsewhere one is a message of the wrong kind."""
    agent = running.agent
    before = agent.trust
    handler = agent._on_manifest if topic == "manifest" else agent._on_command
    agent._post(lambda: handler(FIRST_HANDOVER.to_json()))
    eventually(lambda: agent.last_error is not None, 5, "refusal reported")
    assert f"{topic} refused" in (agent.last_error or "") and agent.trust is before
