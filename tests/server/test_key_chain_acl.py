"""The key hand-over chain on a real Mosquitto: every screen reads it, none writes it, old accounts catch up."""

from __future__ import annotations

import pytest

from signage_core import protocol as p
from signage_server.transport.accounts import DynsecAccounts, screen_acls, screen_role
from signage_server.transport.broker import ManagedMosquitto
from tests.broker_fixtures import RawClient, unique_id

pytestmark = pytest.mark.broker


def test_every_screen_reads_the_retained_chain_and_none_can_overwrite_it(
        broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    a, b = unique_id("a"), unique_id("b")
    creds = {s: accounts.add_screen(s) for s in (a, b)}
    server = RawClient(broker.params())
    assert not server.connect().is_failure
    server.publish(p.key_handovers_topic(), b'{"handovers":[]}', retain=True)
    try:
        for screen in (a, b):
            client = RawClient(broker.params().with_credentials(screen, creds[screen].password))
            try:
                assert not client.connect().is_failure
                assert client.subscribe(p.key_handovers_topic())
                got = client.receive(3)
                assert got is not None and got.retain and got.payload == b'{"handovers":[]}'
                client.publish(p.key_handovers_topic(), b'{"handovers":["forged"]}', retain=True)
                assert client.receive(1) is None  # the broker dropped the screen's publish
            finally:
                client.close()
    finally:
        server.close()


def test_accounts_made_before_the_chain_existed_are_granted_it_once(
        broker: ManagedMosquitto, accounts: DynsecAccounts) -> None:
    old = unique_id("old")
    creds = accounts.add_screen(old)
    # Put the role back as an older server made it: no key-chain ACLs.
    legacy = [acl for acl in screen_acls(old) if acl["topic"] != p.key_handovers_topic()]
    accounts.call("deleteClient", username=old)
    accounts.call("deleteRole", rolename=screen_role(old))
    accounts.call("createRole", rolename=screen_role(old), acls=legacy)
    accounts.call("createClient", username=old, password=creds.password, roles=[{"rolename": screen_role(old)}])
    client = RawClient(broker.params().with_credentials(old, creds.password))
    try:
        assert not client.connect().is_failure
        assert not client.subscribe(p.key_handovers_topic())
        assert accounts.grant_key_chain([old]) == 1
        assert accounts.grant_key_chain([old]) == 0  # already there: nothing changes, nothing fails
        assert client.subscribe(p.key_handovers_topic())
    finally:
        client.close()
