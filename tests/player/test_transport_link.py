"""The player's link: presence with a last will, jittered reconnects, subscriptions restored."""

from __future__ import annotations

import queue
import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from player_agent.transport import Backoff, PlayerLink
from signage_core import protocol as p
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import ManagedMosquitto
from tests.broker_fixtures import RawClient, unique_id
from tests.polling import eventually

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_backoff_grows_to_the_cap_with_jitter_and_never_zero() -> None:
    backoff = Backoff(base_s=1, cap_s=30, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(30, 2**i) for i in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 30 and delays[-1] >= 15
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1


def test_backoff_of_two_players_is_not_in_lockstep() -> None:
    a = Backoff(base_s=1, cap_s=60, rng=random.Random(1))
    b = Backoff(base_s=1, cap_s=60, rng=random.Random(2))
    assert [a.next_delay() for _ in range(6)] != [b.next_delay() for _ in range(6)]


@pytest.fixture
def enrolled(broker: ManagedMosquitto, accounts: DynsecAccounts) -> Iterator[tuple[PlayerLink, RawClient]]:
    screen_id, group = unique_id(), unique_id("g")
    creds = accounts.add_screen(screen_id, groups=[group])
    watcher = RawClient(broker.params())
    assert not watcher.connect().is_failure
    assert watcher.subscribe(p.status_topic(screen_id))
    link = PlayerLink(
        broker.params().with_credentials(creds.username, creds.password),
        screen_id,
        groups=[group],
        agent_version="0.1.0",
        backoff=Backoff(base_s=0.05, cap_s=0.2),
        clock=lambda: NOW,
    )
    yield link, watcher
    link.stop()
    watcher.close()


def _status(watcher: RawClient) -> p.Status:
    msg = watcher.receive(timeout=5)
    assert msg is not None, "no status message"
    return p.decode(p.Status, msg.payload)


pytestmark = pytest.mark.broker


def test_online_then_last_will_offline_on_a_dropped_link(enrolled) -> None:
    link, watcher = enrolled
    link.start()
    assert link.wait_connected(5)
    online = _status(watcher)
    assert (online.state, online.at, online.agent_version) == ("online", NOW, "0.1.0")
    link.drop_connection()
    offline = _status(watcher)
    assert offline.state == "offline" and offline.at is None  # the broker's last will
    assert _status(watcher).state == "online"  # reconnected by itself
    assert link.connections == 2


def test_clean_stop_says_offline_itself(enrolled) -> None:
    link, watcher = enrolled
    link.start()
    assert link.wait_connected(5)
    assert _status(watcher).state == "online"
    link.stop()
    offline = _status(watcher)
    assert offline.state == "offline" and offline.at == NOW


def test_subscriptions_are_restored_after_a_reconnect(enrolled, broker: ManagedMosquitto) -> None:
    link, _ = enrolled
    manifests: queue.Queue[bytes] = queue.Queue()
    alerts: queue.Queue[bytes] = queue.Queue()
    link.on(p.TopicKind.MANIFEST, lambda topic, payload: manifests.put(payload))
    link.on(p.TopicKind.GROUP_ALERT, lambda topic, payload: alerts.put(payload))
    server = RawClient(broker.params())
    assert not server.connect().is_failure
    server.publish(p.manifest_topic(link.screen_id), b'{"v":1}', retain=True)
    link.start()
    assert manifests.get(timeout=5) == b'{"v":1}'
    link.drop_connection()
    assert manifests.get(timeout=5) == b'{"v":1}'  # retained manifest again on the new session
    (group,) = link.groups
    server.publish(p.group_alert_topic(group), b'{"alert":"closure"}')
    assert alerts.get(timeout=5) == b'{"alert":"closure"}'
    server.close()


def test_revoked_player_keeps_backing_off_and_reports_why(enrolled, accounts: DynsecAccounts) -> None:
    link, _ = enrolled
    link.start()
    assert link.wait_connected(5)
    accounts.revoke_screen(link.screen_id)
    eventually(lambda: link.last_refusal is not None, 5, "kicked, then each retry refused")
    assert link.last_refusal is not None and "authori" in link.last_refusal.lower()
    assert not link.connected.is_set()


def test_player_refuses_to_publish_server_topics(enrolled) -> None:
    link, _ = enrolled
    with pytest.raises(p.ProtocolError, match="players do not publish manifest"):
        link.publish(p.TopicKind.MANIFEST, b"{}")


def test_on_connected_runs_after_each_accepted_connect_and_never_on_a_refusal(
        broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    screen_id = unique_id()
    creds = accounts.add_screen(screen_id, groups=[])
    connects: queue.Queue[bool] = queue.Queue()
    link = PlayerLink(broker.params().with_credentials(creds.username, creds.password), screen_id,
                      backoff=Backoff(base_s=0.05, cap_s=0.2),
                      on_connected=lambda: connects.put(link.connected.is_set()))
    try:
        link.start()
        assert connects.get(timeout=5) is True  # connected already when told
        link.drop_connection()
        assert connects.get(timeout=5) is True  # and again after the reconnect
        accounts.revoke_screen(screen_id)
        link.drop_connection()
        eventually(lambda: link.last_refusal is not None, 5, "the reconnect refused")
        assert connects.empty() and link.connections == 2  # refused connects do not count
    finally:
        link.stop()
