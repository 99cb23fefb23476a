"""What the player puts on screen, decided without the agent: identify over alerts over the manifest."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from player_agent.choice import NEVER, choose
from signage_core.languages import Language
from signage_core.protocol import AlertBody
from signage_core.schedule import TimeWindow
from tests.player.agent_world import manifest

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam


def body(alert_id: str, version: int) -> AlertBody:
    return AlertBody(alert_id=alert_id, captions={Language.VI: "Đóng"}, screen_ids=("gate-1",), version=version,
                     issued_at=NOW, expires_at=NOW + timedelta(minutes=version))


def test_identify_covers_alerts_and_the_newest_alert_covers_the_manifest() -> None:
    m = manifest("gate-1", 3, now=NOW)
    until = NOW + timedelta(seconds=30)
    assert choose(m, [body("a", 5)], until, NOW).identity == ("identify", until)
    chosen = choose(m, [body("a", 5), body("b", 7), body("c", 6)], NOW, NOW)  # identify just ended
    assert (chosen.kind, chosen.alert_id, chosen.slide_id) == ("alert", "b", None)
    assert chosen.boundaries == (NOW + timedelta(minutes=7),)
    assert choose(None, [body("a", 5)], None, NOW).identity == ("alert", "a", 5)  # no manifest yet
    assert choose(None, [], None, NOW).kind == "waiting"


def test_an_item_says_what_plays_until_when_and_a_new_item_is_a_new_identity() -> None:
    m = manifest("gate-1", 3, now=NOW, durations_ms=60_000)
    first = choose(m, [], None, NOW)
    assert (first.kind, first.slide_id, first.playlist_id, first.alert_id) == ("item", "s1", "p", None)
    assert first.started_at is not None and first.started_at.microsecond % 1000 == 0
    assert first.playing is not None and first.playing.until in first.boundaries
    assert NEVER in first.boundaries  # an always-on screen never switches off
    assert choose(m, [], None, NOW + timedelta(milliseconds=1)).identity == first.identity
    assert choose(m, [], None, NOW + timedelta(minutes=1, seconds=1)).identity != first.identity


def test_off_hours_blank_the_screen_until_it_switches_on() -> None:
    m = manifest("gate-1", 3, now=NOW, on_hours=TimeWindow(start=time(6), end=time(9)))
    off = choose(m, [], None, NOW)
    assert off.kind == "off" and off.identity == ("off",)
    assert off.boundaries == (datetime(2026, 3, 2, 23, 0, tzinfo=UTC),)  # 06:00 next morning, local
