"""The alerts a player keeps: on disk across a reboot, acked once, gone at expiry or for another screen."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from player_agent.alerts import AlertBoard
from signage_core.protocol import AlertAck, AlertBody
from signage_core.signing import EnvelopeKind, TrustStore, body_as
from tests.player.agent_world import SERVER_KEY, alert, now_utc

TRUST = TrustStore.of(SERVER_KEY.public_key)
NOW = now_utc()


def board_with(tmp_path: Path, *payloads: bytes) -> AlertBoard:
    board = AlertBoard(tmp_path, "gate-1")
    for raw in payloads:
        board.show(body_as(TRUST.open(raw, expected_kind=EnvelopeKind.ALERT, now=NOW), AlertBody), raw.decode())
    return board


def test_alerts_survive_a_reboot_acked_and_only_for_this_screen(tmp_path: Path) -> None:
    sent: list[AlertAck] = []
    board = board_with(tmp_path, alert(["gate-1"], "a1", 5, now=NOW), alert(["gate-2"], "a2", 6, now=NOW))
    board.ack("a1", lambda: "f" * 64, NOW, sent.append)
    board.ack("a1", lambda: "f" * 64, NOW, sent.append)
    assert [a.alert_id for a in sent] == ["a1"]  # once
    again = AlertBoard(tmp_path, "gate-1")
    assert again.load(TRUST, NOW) is None
    assert "a1" in again and "a2" not in again  # a2 names another screen
    again.ack("a1", lambda: "f" * 64, NOW, sent.append)
    assert len(sent) == 1  # acked before the reboot: not again


def test_expiry_and_withdrawal_drop_alerts_from_disk_too(tmp_path: Path) -> None:
    board = board_with(tmp_path, alert(["gate-1"], "a1", 5, now=NOW, ttl_s=10), alert(["gate-1"], "a2", 6, now=NOW))
    board.expire(NOW + timedelta(seconds=10))
    assert "a1" not in board and len(board) == 1
    assert board.withdraw("a2") and not board.withdraw("a2")
    again = AlertBoard(tmp_path, "gate-1")
    assert again.load(TRUST, NOW) is None and len(again) == 0
