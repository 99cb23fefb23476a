"""Per-screen ACLs against a real Mosquitto: each screen sees and says only what is its own."""

from __future__ import annotations

import time

import pytest

from signage_core import protocol as p
from signage_server.transport.accounts import AccountExists, DynsecAccounts, screen_role
from signage_server.transport.broker import ManagedMosquitto
from tests.broker_fixtures import RawClient, unique_id

pytestmark = pytest.mark.broker


@pytest.fixture
def pair(broker: ManagedMosquitto, accounts: DynsecAccounts):
    """Two enrolled screens in different groups, plus a server-side client watching everything."""
    a, b = unique_id("a"), unique_id("b")
    ga, gb = unique_id("ga"), unique_id("gb")
    creds_a = accounts.add_screen(a, groups=[ga])
    accounts.add_screen(b, groups=[gb])
    server = RawClient(broker.params())
    assert server.connect().is_failure is False
    assert server.subscribe("signage/v1/#")
    client_a = RawClient(broker.params().with_credentials(a, creds_a.password))
    assert not client_a.connect().is_failure
    yield a, b, ga, gb, client_a, server
    client_a.close()
    server.close()


def test_anonymous_and_wrong_password_are_refused(broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    screen = unique_id()
    accounts.add_screen(screen)
    anonymous = RawClient(p.BrokerParams(broker.host, broker.port))
    assert anonymous.connect().is_failure
    wrong = RawClient(broker.params().with_credentials(screen, "not-the-password"))
    assert wrong.connect().is_failure
    unknown = RawClient(broker.params().with_credentials("nobody", "x"))
    assert unknown.connect().is_failure


def test_screen_reads_its_own_manifest_but_not_another_screens(pair, broker: ManagedMosquitto) -> None:
    a, b, _, _, client_a, server = pair
    server.publish(p.manifest_topic(b), b'{"for":"b"}', retain=True)
    server.publish(p.manifest_topic(a), b'{"for":"a"}', retain=True)

    assert client_a.subscribe(p.manifest_topic(a))
    own = client_a.receive(timeout=3)
    assert own is not None and own.payload == b'{"for":"a"}' and own.retain

    for topic in (p.manifest_topic(b), p.asset_chunk_topic(b), "signage/v1/screens/+/manifest", "signage/v1/#", "#"):
        assert not client_a.subscribe(topic), f"subscription to {topic} was granted"
    server.publish(p.manifest_topic(b), b'{"for":"b","v":2}', retain=True)
    server.publish(p.asset_chunk_topic(b), b"secret chunk")
    assert client_a.receive(timeout=1) is None


def test_screen_cannot_publish_on_other_screens_or_manifest_or_alert_topics(pair) -> None:
    a, b, ga, _, client_a, server = pair
    forbidden = [
        p.status_topic(b),
        p.heartbeat_topic(b),
        p.asset_request_topic(b),
        p.alert_ack_topic(b),
        p.manifest_topic(a),
        p.manifest_topic(b),
        p.command_topic(a),
        p.asset_chunk_topic(a),
        p.playlog_ack_topic(a),
        p.group_alert_topic(ga),
    ]
    for topic in forbidden:
        client_a.publish(topic, b'{"injected":true}')
    # Positive control on the same connection: an allowed publish does get through, after the others.
    client_a.publish(p.heartbeat_topic(a), b'{"ok":true}')
    received = []
    while (msg := server.receive(timeout=2)) is not None:
        if msg.retain:
            continue  # retained state from earlier tests, replayed at subscription
        received.append(msg.topic)
        if msg.topic == p.heartbeat_topic(a):
            break
    assert received == [p.heartbeat_topic(a)]


def test_group_alerts_reach_members_only_and_follow_regrouping(pair, accounts: DynsecAccounts) -> None:
    a, _, ga, gb, client_a, server = pair
    assert client_a.subscribe(p.group_alert_topic(ga))
    assert not client_a.subscribe(p.group_alert_topic(gb))
    server.publish(p.group_alert_topic(ga), b'{"alert":1}')
    msg = client_a.receive(timeout=3)
    assert msg is not None and msg.topic == p.group_alert_topic(ga)

    accounts.set_screen_groups(a, [gb])
    assert accounts.screen_groups(a) == [gb]
    # Dynsec kicks a client whose groups change, so no session keeps the old group's grants.
    assert client_a.disconnected.wait(3)
    client_a.client.loop_stop()
    again = RawClient(client_a.params)
    assert not again.connect().is_failure
    assert not again.subscribe(p.group_alert_topic(ga))
    assert again.subscribe(p.group_alert_topic(gb))
    server.publish(p.group_alert_topic(ga), b'{"alert":2}')
    server.publish(p.group_alert_topic(gb), b'{"alert":3}')
    msg = again.receive(timeout=3)
    assert msg is not None and msg.payload == b'{"alert":3}'
    again.close()


def test_revoked_screen_is_kicked_and_cannot_reconnect(broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    screen = unique_id()
    creds = accounts.add_screen(screen)
    live = RawClient(broker.params().with_credentials(screen, creds.password))
    assert not live.connect().is_failure
    started = time.monotonic()
    accounts.revoke_screen(screen)
    assert live.disconnected.wait(3), "revoked session was not kicked"
    assert time.monotonic() - started < 2
    live.client.loop_stop()
    again = RawClient(broker.params().with_credentials(screen, creds.password))
    assert again.connect().is_failure
    assert not accounts.is_enabled(screen)


def test_adding_a_screen_twice_is_a_conflict_and_leaves_the_first_account_working(
        broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    screen = unique_id()
    creds = accounts.add_screen(screen)
    with pytest.raises(AccountExists, match="already exists"):
        accounts.add_screen(screen)
    assert screen in accounts.list_screens()
    # The refused second add must not strip the live account of its role (it once deleted and
    # recreated the role, which detached it: the screen could no longer read its manifest).
    player = RawClient(broker.params().with_credentials(screen, creds.password))
    assert not player.connect().is_failure
    assert player.subscribe(p.manifest_topic(screen))
    player.close()


def test_a_leftover_role_gets_the_current_acls(broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    screen = unique_id()
    role = screen_role(screen)
    accounts.call("createRole", rolename=role, acls=[
        {"acltype": "subscribePattern", "topic": "#", "allow": True, "priority": 0}])
    creds = accounts.add_screen(screen)
    player = RawClient(broker.params().with_credentials(screen, creds.password))
    assert not player.connect().is_failure
    assert player.subscribe(p.manifest_topic(screen))
    assert not player.subscribe("#"), "the leftover role's wider ACL survived"
    player.close()


def test_reset_password_invalidates_the_old_one(broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    screen = unique_id()
    old = accounts.add_screen(screen)
    new = accounts.reset_password(screen)
    assert new.password != old.password
    assert RawClient(broker.params().with_credentials(screen, old.password)).connect().is_failure
    fresh = RawClient(broker.params().with_credentials(screen, new.password))
    assert not fresh.connect().is_failure
    fresh.close()


def test_one_screens_account_cannot_take_over_another_screens_client_id(
        broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    one, three = unique_id("one"), unique_id("three")
    creds_one, creds_three = accounts.add_screens([one, three])
    screen_one = RawClient(broker.params().with_credentials(one, creds_one.password), p.screen_client_id(one))
    assert not screen_one.connect().is_failure
    intruder = RawClient(broker.params().with_credentials(three, creds_three.password), p.screen_client_id(one))
    assert intruder.connect().is_failure, "screen 3's account was accepted under screen 1's client id"
    # Mosquitto closes an existing session only after accepting the newcomer: screen 1 must stay.
    assert not screen_one.disconnected.wait(1), "screen 1 was kicked by the intruder"
    assert screen_one.subscribe(p.manifest_topic(one))
    screen_one.close()
    # Its own id still works, and so does add_screen's account (one account, one client id).
    own = RawClient(broker.params().with_credentials(three, creds_three.password), p.screen_client_id(three))
    assert not own.connect().is_failure
    own.close()
    single = unique_id("single")
    creds_single = accounts.add_screen(single)
    assert RawClient(broker.params().with_credentials(single, creds_single.password),
                     p.screen_client_id(one)).connect().is_failure


def test_accounts_made_before_the_binding_are_bound_at_start_and_at_re_enrolment(
        broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    old, other = unique_id("old"), unique_id("other")
    creds_other = accounts.add_screen(other)
    accounts.call("createClient", username=old, password="old-pw")
    assert accounts.bind_client_ids([old, other]) == 1  # only the unbound one: modifyClient kicks a session
    assert accounts.bind_client_ids([old, other]) == 0
    assert RawClient(broker.params().with_credentials(other, creds_other.password),
                     p.screen_client_id(old)).connect().is_failure
    legacy = unique_id("legacy")
    accounts.call("createClient", username=legacy, password="legacy-pw")
    creds = accounts.reenrol_screen(legacy)
    assert RawClient(broker.params().with_credentials(legacy, creds.password),
                     p.screen_client_id(other)).connect().is_failure
    fine = RawClient(broker.params().with_credentials(legacy, creds.password))
    assert not fine.connect().is_failure
    fine.close()
