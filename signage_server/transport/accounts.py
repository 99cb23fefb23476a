"""Per-screen broker accounts and ACLs, kept live in Mosquitto's dynamic-security plugin."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from signage_core.mqtt_client import BrokerTlsError, connect_client, make_client
from signage_core.protocol import (
    SCREEN_TOPICS,
    TOPICS,
    BrokerParams,
    Party,
    check_id,
    group_alert_topic,
    key_handovers_topic,
    screen_client_id,
)

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"


class AccountError(RuntimeError):
    """The broker refused an account change; the message carries the broker's reason."""


class AccountExists(AccountError):
    """A screen already has a broker account."""


class AccountNotFound(AccountError):
    """No broker account for that screen."""


class BrokerUnreachable(AccountError):
    """The broker is down or cannot be reached: nothing was changed there."""


@dataclass(frozen=True, slots=True)
class ScreenCredentials:
    """What a screen logs in with; the password is shown once, at enrolment, and never stored here."""

    username: str
    password: str


def screen_role(screen_id: str) -> str:
    """The dynsec role holding one screen's own topics."""
    return f"screen-{check_id(screen_id)}"


def group_name(group: str) -> str:
    """The dynsec group (and its role) granting one group's alert topic."""
    return f"group-{check_id(group, what='group')}"


def screen_acls(screen_id: str) -> list[dict[str, Any]]:
    """ACLs from the protocol table: read what the server sends this screen, publish only its reports."""
    acls: list[dict[str, Any]] = []
    for spec in SCREEN_TOPICS:
        topic = spec.topic(check_id(screen_id))
        if spec.publisher is Party.SCREEN:
            acls.append({"acltype": "publishClientSend", "topic": topic, "allow": True})
        if spec.subscriber is Party.SCREEN:
            # Literal, not pattern: the player subscribes to exact topics, never to wildcards.
            acls.append({"acltype": "subscribeLiteral", "topic": topic, "allow": True})
            acls.append({"acltype": "publishClientReceive", "topic": topic, "allow": True})
    return acls + key_chain_acls()


def key_chain_acls() -> list[dict[str, Any]]:
    """Every screen reads the key hand-over chain, so a player offline during a rotation catches up."""
    topic = key_handovers_topic()
    return [
        {"acltype": "subscribeLiteral", "topic": topic, "allow": True},
        {"acltype": "publishClientReceive", "topic": topic, "allow": True},
    ]


def group_acls(group: str) -> list[dict[str, Any]]:
    """A group member may read the group's alert topic and nothing else of the group."""
    topic = group_alert_topic(group)
    return [
        {"acltype": "subscribeLiteral", "topic": topic, "allow": True},
        {"acltype": "publishClientReceive", "topic": topic, "allow": True},
    ]


def bridge_role(region: str) -> str:
    """The dynsec role (and client) of one regional broker's bridge on the central broker."""
    return f"bridge-{check_id(region, what='region')}"


def bridge_topics() -> list[tuple[str, str, int]]:
    """(topic filter, direction seen from the regional broker, QoS) for every topic a screen uses.

    "in": the server publishes it on the central broker, the regional broker's screens read it;
    "out": a screen publishes it on its regional broker, the server reads it on the central one.
    """
    out: list[tuple[str, str, int]] = []
    for spec in TOPICS:
        pattern = spec.template.format(owner="+")
        out.append((pattern, "out" if spec.publisher is Party.SCREEN else "in", spec.qos))
    return out


def bridge_acls() -> list[dict[str, Any]]:
    """A bridge may carry screens' reports in and everything for screens out, nothing else (no $CONTROL)."""
    acls: list[dict[str, Any]] = []
    for pattern, direction, _ in bridge_topics():
        if direction == "out":
            acls.append({"acltype": "publishClientSend", "topic": pattern, "allow": True})
        else:
            # The bridge subscribes with exactly these filters (bridge_config), so literal is enough.
            acls.append({"acltype": "subscribeLiteral", "topic": pattern, "allow": True})
            acls.append({"acltype": "publishClientReceive", "topic": pattern, "allow": True})
    return acls


def _raise_for(command: str, response: dict[str, Any]) -> None:
    error = response.get("error")
    if not error:
        return
    text = f"dynsec {command} refused: {error}"
    lowered = str(error).lower()
    if "already exists" in lowered:
        raise AccountExists(text)
    if "not found" in lowered:
        raise AccountNotFound(text)
    raise AccountError(text)


class DynsecAccounts:
    """Admin connection to the broker's $CONTROL API: add, regroup and revoke screens."""

    def __init__(self, params: BrokerParams, *, timeout_s: float = 10.0, offline_wait_s: float | None = None) -> None:
        self._params = params
        self._timeout_s = timeout_s
        # How long a command waits for a lost connection to come back before failing; None: the whole timeout.
        self._offline_wait_s = timeout_s if offline_wait_s is None else offline_wait_s
        self._client = make_client(params, f"signage-accounts-{uuid.uuid4().hex[:8]}")
        self._client.connect_timeout = min(5.0, timeout_s)
        # A broker back from an outage is found within seconds, not paho's default two minutes.
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._pending: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._connect_error: str | None = None
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect

    # -- connection

    def connect(self) -> None:
        """Connect as the server's admin account and wait until responses can be received."""
        try:
            connect_client(self._client, self._params, keepalive=30)
        except BrokerTlsError:
            raise  # a configuration mistake, not an outage: its message already says what to fix
        except OSError as exc:  # refused, no route, timed out: the caller decides whether that is fatal
            raise BrokerUnreachable(f"cannot reach dynsec API at {self._params.url()}: {exc}") from None
        self._client.loop_start()
        if not self._ready.wait(self._timeout_s):
            self.close()
            reason = self._connect_error or "no answer"
            raise AccountError(f"cannot reach dynsec API at {self._params.url()}: {reason}")

    @property
    def connected(self) -> bool:
        """Commands can be sent now; read without waiting (for /readyz), paho reconnects in the background."""
        return self._ready.is_set()

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> DynsecAccounts:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._connect_error = f"connection refused: {reason}"
            return
        # Subscribed here so a reconnect restores the response subscription.
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, props: Any) -> None:
        self._ready.clear()  # commands fail after offline_wait_s instead of waiting on a dead link

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: Any, props: Any) -> None:
        if any(r.is_failure for r in reasons):
            self._connect_error = f"subscription to {RESPONSE_TOPIC} refused (not an admin account?)"
            return
        self._ready.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable dynsec response: %r", msg.payload[:200])
            return
        for response in responses:
            key = response.get("correlationData")
            with self._lock:
                waiter = self._pending.get(key) if isinstance(key, str) else None
            if waiter is not None:
                waiter[1].append(response)
                waiter[0].set()

    # -- commands

    def call(self, command: str, **fields: Any) -> dict[str, Any]:
        """Run one dynsec command and return its response, raising AccountError on refusal."""
        return self.call_many([{"command": command, **fields}])[0]

    def call_many(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run commands in one control message (enrolling a site is one round trip, not hundreds)."""
        responses = self._exchange(commands)
        for cmd, response in zip(commands, responses, strict=True):
            _raise_for(cmd["command"], response)
        return responses

    def _exchange(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands in one control message and return the raw responses, refusals included."""
        waiters: list[tuple[str, threading.Event, list[dict[str, Any]]]] = []
        with self._lock:
            for _ in commands:
                key = uuid.uuid4().hex
                waiters.append((key, threading.Event(), []))
                self._pending[key] = (waiters[-1][1], waiters[-1][2])
        try:
            deadline = time.monotonic() + self._timeout_s
            if not self._ready.wait(self._offline_wait_s):
                raise BrokerUnreachable(f"the broker at {self._params.url()} is not connected (down or unreachable): "
                                        f"dynsec {commands[0]['command']} not sent")
            body = [{**cmd, "correlationData": key} for cmd, (key, _, _) in zip(commands, waiters, strict=True)]
            self._client.publish(CONTROL_TOPIC, json.dumps({"commands": body}), qos=1)
            for cmd, (_, done, _) in zip(commands, waiters, strict=True):
                if not done.wait(max(0.0, deadline - time.monotonic())):
                    raise AccountError(f"dynsec {cmd['command']} got no response in {self._timeout_s}s")
        finally:
            with self._lock:
                for key, _, _ in waiters:
                    self._pending.pop(key, None)
        return [box[0] for _, _, box in waiters]

    def _ensure_group(self, group: str) -> str:
        name = group_name(group)
        try:
            self.call("createRole", rolename=name, acls=group_acls(group))
        except AccountExists:
            pass
        try:
            self.call("createGroup", groupname=name, roles=[{"rolename": name}])
        except AccountExists:
            pass
        return name

    def add_screen(self, screen_id: str, *, groups: Iterable[str] = ()) -> ScreenCredentials:
        """Create a screen's account (username = screen id) with a fresh random password."""
        check_id(screen_id)
        group_names = [self._ensure_group(g) for g in sorted(set(groups))]
        role = screen_role(screen_id)
        try:
            self.call("createRole", rolename=role, acls=screen_acls(screen_id))
        except AccountExists:
            # A leftover role (a deleted screen's, or this screen's if its account exists and the
            # createClient below refuses): make its ACLs exactly the current ones in place. Deleting
            # and recreating it would detach it from a client that still holds it.
            self.call("modifyRole", rolename=role, acls=screen_acls(screen_id))
        password = secrets.token_urlsafe(32)
        self.call(
            "createClient",
            username=screen_id,
            password=password,
            clientid=screen_client_id(screen_id),
            textname=f"screen {screen_id}",
            roles=[{"rolename": role}],
            groups=[{"groupname": name} for name in group_names],
        )
        return ScreenCredentials(username=screen_id, password=password)

    def add_screens(self, screen_ids: Sequence[str], *, groups: Iterable[str] = ()) -> list[ScreenCredentials]:
        """Create many new screen accounts in a few round trips (site roll-out, benchmarks)."""
        group_names = [self._ensure_group(g) for g in sorted(set(groups))]
        creds = [ScreenCredentials(check_id(s), secrets.token_urlsafe(32)) for s in screen_ids]
        for start in range(0, len(creds), 100):
            batch = creds[start : start + 100]
            self.call_many(
                [{"command": "createRole", "rolename": screen_role(c.username), "acls": screen_acls(c.username)} for c in batch]
                + [
                    {
                        "command": "createClient",
                        "username": c.username,
                        "password": c.password,
                        "clientid": screen_client_id(c.username),
                        "textname": f"screen {c.username}",
                        "roles": [{"rolename": screen_role(c.username)}],
                        "groups": [{"groupname": n} for n in group_names],
                    }
                    for c in batch
                ]
            )
        return creds

    def reset_password(self, screen_id: str) -> ScreenCredentials:
        """New password for a player; the old one stops working for new logins."""
        password = secrets.token_urlsafe(32)
        self.call("setClientPassword", username=check_id(screen_id), password=password)
        return ScreenCredentials(username=screen_id, password=password)

    def has_screen(self, screen_id: str) -> bool:
        """Whether the broker holds an account for this screen."""
        try:
            self.call("getClient", username=check_id(screen_id))
        except AccountNotFound:
            return False
        return True

    def reenrol_screen(self, screen_id: str, *, groups: Iterable[str] = ()) -> ScreenCredentials:
        """Hand a screen's account to a new box: cut the old one off as revoke does, then open it to a new password.

        Disabled first, so the old box is kicked and cannot log back in between the steps; if a step fails the
        account stays disabled (fails closed) and the unconsumed code can be used again.
        """
        check_id(screen_id)
        names = [self._ensure_group(g) for g in sorted(set(groups))]
        self.call("disableClient", username=screen_id)
        password = secrets.token_urlsafe(32)
        self.call("setClientPassword", username=screen_id, password=password)
        # Also binds an account made before client ids were bound (bind_client_ids does it at start too).
        self.call("modifyClient", username=screen_id, clientid=screen_client_id(screen_id),
                  groups=[{"groupname": n} for n in names])
        self.call("enableClient", username=screen_id)
        return ScreenCredentials(username=screen_id, password=password)

    def set_screen_groups(self, screen_id: str, groups: Sequence[str]) -> None:
        """Replace a screen's groups; dynsec kicks its session, so it reconnects under the new grants."""
        names = [self._ensure_group(g) for g in sorted(set(groups))]
        self.call("modifyClient", username=check_id(screen_id), groups=[{"groupname": n} for n in names])

    def screen_groups(self, screen_id: str) -> list[str]:
        """The groups the broker currently holds for a screen."""
        client = self.call("getClient", username=check_id(screen_id))["data"]["client"]
        return sorted(g["groupname"].removeprefix("group-") for g in client.get("groups", []))

    def is_enabled(self, screen_id: str) -> bool:
        """Whether the screen may log in at all."""
        client = self.call("getClient", username=check_id(screen_id))["data"]["client"]
        return not client.get("disabled", False)

    def revoke_screen(self, screen_id: str) -> None:
        """Cut a screen off now: dynsec disables the account and kicks its live session."""
        self.call("disableClient", username=check_id(screen_id))

    def restore_screen(self, screen_id: str) -> None:
        """Let a revoked screen log in again (with its current password)."""
        self.call("enableClient", username=check_id(screen_id))

    def delete_screen(self, screen_id: str) -> None:
        """Remove the account and its role when the screen is decommissioned."""
        self.call("deleteClient", username=check_id(screen_id))
        try:
            self.call("deleteRole", rolename=screen_role(screen_id))
        except AccountNotFound:
            pass

    def grant_key_chain(self, screen_ids: Sequence[str]) -> int:
        """Add the key-chain ACLs to roles made before that topic existed; returns how many changed."""
        commands = [{"command": "addRoleACL", "rolename": screen_role(sid), "priority": 0, **acl}
                    for sid in screen_ids for acl in key_chain_acls()]
        changed = 0
        for start in range(0, len(commands), 200):
            batch = commands[start : start + 200]
            for cmd, response in zip(batch, self._exchange(batch), strict=True):
                error = str(response.get("error") or "")
                if not error:
                    changed += 1
                elif "already exists" not in error.lower():
                    _raise_for(cmd["command"], response)
        return changed // len(key_chain_acls())

    def bind_client_ids(self, screen_ids: Sequence[str]) -> int:
        """Bind accounts made before client ids were bound to their own id; returns how many changed.

        Unbound, one screen's account could log in under another screen's client id and Mosquitto
        would close that screen's session (a takeover). Only unbound accounts are touched, because
        modifyClient kicks the live session.
        """
        wanted = set(screen_ids)
        clients = self.call("listClients", verbose=True, count=-1, offset=0)["data"]["clients"]
        commands = [{"command": "modifyClient", "username": c["username"], "clientid": screen_client_id(c["username"])}
                    for c in clients
                    if c.get("username") in wanted and c.get("clientid") != screen_client_id(c["username"])]
        for start in range(0, len(commands), 200):
            self.call_many(commands[start : start + 200])
        return len(commands)

    def ensure_bridge(self, region: str, password: str) -> None:
        """The account a regional broker's bridge logs in with here; its ACLs and password made current."""
        name = bridge_role(region)
        try:
            self.call("createRole", rolename=name, acls=bridge_acls())
        except AccountExists:
            self.call("modifyRole", rolename=name, acls=bridge_acls())
        try:
            self.call("createClient", username=name, password=password, clientid=name,
                      textname=f"bridge of region {region}", roles=[{"rolename": name}])
        except AccountExists:
            self.call("setClientPassword", username=name, password=password)
            self.call("enableClient", username=name)

    def list_screens(self) -> list[str]:
        """Usernames of all screen accounts (the server's own is not one)."""
        names = self.call("listClients", verbose=False, count=-1, offset=0)["data"]["clients"]
        return sorted(n for n in names if n != self._params.username and not n.startswith("bridge-"))
