"""The urgent alerts a player shows: kept in alerts.json so a reboot keeps showing them, acked once each."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from player_agent.fsutil import read_kept, write_kept
from signage_core.protocol import AlertAck, AlertBody
from signage_core.signing import EnvelopeKind, TrustStore, VerificationError, body_as

ALERTS_FILE = "alerts.json"


@dataclass(slots=True)
class ActiveAlert:
    body: AlertBody
    raw: str  # the envelope, persisted so a reboot keeps showing it
    acked: bool = False


class AlertBoard:
    """The alerts on screen by id; the agent verifies and orders them, the board keeps them."""

    def __init__(self, state_dir: Path, screen_id: str) -> None:
        self.path = state_dir / ALERTS_FILE
        self.screen_id = screen_id
        self._active: dict[str, ActiveAlert] = {}

    def __len__(self) -> int:
        return len(self._active)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._active

    def __iter__(self) -> Iterator[ActiveAlert]:
        return iter(self._active.values())

    def get(self, alert_id: str) -> ActiveAlert | None:
        return self._active.get(alert_id)

    def load(self, trust: TrustStore, now: datetime) -> str | None:
        """The stored alerts still valid for this screen, acked already; returns the file's problem, if any."""
        kept = read_kept(self.path, _alert_list, repair=True)
        for raw in kept.value or []:
            try:
                envelope = trust.open(raw, expected_kind=EnvelopeKind.ALERT, now=now)
                body = body_as(envelope, AlertBody)
            except VerificationError:
                continue
            if body.expires_at > now and body.action == "show" and self.screen_id in body.screen_ids:
                self._active[body.alert_id] = ActiveAlert(body, raw, acked=True)
        return kept.problem

    def show(self, body: AlertBody, raw: str) -> None:
        self._active[body.alert_id] = ActiveAlert(body, raw)
        self.save()

    def withdraw(self, alert_id: str) -> bool:
        """Drop an alert; True if it was on the board."""
        gone = self._active.pop(alert_id, None) is not None
        self.save()
        return gone

    def expire(self, now: datetime) -> None:
        gone = [k for k, a in self._active.items() if a.body.expires_at <= now]
        for k in gone:
            del self._active[k]
        if gone:
            self.save()

    def ack(self, alert_id: str, frame_hash: Callable[[], str], now: datetime,
            send: Callable[[AlertAck], object]) -> None:
        """Send the proof an alert is on screen, once per alert (not again for one restored from disk)."""
        alert = self._active.get(alert_id)
        if alert is None or alert.acked:
            return
        send(AlertAck(alert_id=alert_id, frame_hash=frame_hash(), shown_at=now))
        alert.acked = True

    def save(self) -> None:
        data = json.dumps([a.raw for a in self._active.values()]).encode()
        write_kept(self.path, data, mode=0o644)


def _alert_list(raw: bytes) -> list[str]:
    data = json.loads(raw)
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ValueError("not a list of alert envelopes")
    return data
