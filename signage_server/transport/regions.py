"""Regional brokers: the bridge section, the regional Mosquitto the CLI runs, and the server's admin link to it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from signage_core.fsutil import atomic_write_bytes
from signage_core.protocol import parse_broker_url
from signage_server.config import MqttRegion
from signage_server.transport.accounts import DynsecAccounts, bridge_role, bridge_topics
from signage_server.transport.broker import BrokerError, ManagedMosquitto, TlsListener

__all__ = ["bridge_config", "connect_region", "regional_broker", "region_entry"]

# A regional broker is another machine: an account change to one that is down fails within a second
# (enrolment answers 503, a revocation is reconciled by the jobs) instead of holding the request.
REGION_TIMEOUT_S = 5.0
REGION_OFFLINE_WAIT_S = 1.0
BRIDGE_PASSWORD_FILE = "bridge-password"  # noqa: S105 - a file name
MIN_BRIDGE_PASSWORD = 16


def bridge_config(region: str, *, central_host: str, central_port: int, password: str,
                  cafile: str | None = None) -> list[str]:
    """The bridge section of a regional broker's mosquitto.conf: every screen topic to and from the central broker.

    A persistent session (cleansession false) keeps the central broker queueing QoS 1 messages for the region
    while the link is down; each (re)connect subscribes again, and the central broker then sends every retained
    manifest, alert and the key chain: a restarted regional broker is refilled without the server's help.
    """
    name = bridge_role(region)
    lines = [
        f"connection {name}",
        f"address {central_host}:{central_port}",
        f"remote_clientid {name}",
        f"remote_username {name}",
        f"remote_password {password}",
        "cleansession false",
        "try_private true",  # the central broker then knows a bridge: retain flags kept, no echo back
        "notifications false",  # $SYS state topics: the bridge account may not publish there
        "restart_timeout 1 10",
        "keepalive_interval 30",
    ]
    if cafile:
        lines.append(f"bridge_cafile {cafile}")
    lines += [f"topic {pattern} {direction} {qos}" for pattern, direction, qos in bridge_topics()]
    return lines


def connect_region(region: MqttRegion) -> DynsecAccounts:
    """The server's admin connection to one regional broker's dynsec API; BrokerUnreachable if it is down."""
    params = parse_broker_url(region.url, ca_file=region.ca_file).with_credentials(
        region.username, region.password.get_secret_value())
    accounts = DynsecAccounts(params, timeout_s=REGION_TIMEOUT_S, offline_wait_s=REGION_OFFLINE_WAIT_S)
    accounts.connect()
    return accounts


def _bridge_password(root: Path, given: str | None) -> str:
    """The configured password wins (it is what the server gives bridge-<region>); else the one kept, else a new one."""
    path = root / BRIDGE_PASSWORD_FILE
    if given is not None and len(given) < MIN_BRIDGE_PASSWORD:
        raise BrokerError(f"the bridge password needs {MIN_BRIDGE_PASSWORD}+ characters")
    kept = path.read_text(encoding="utf-8").strip() if path.exists() else None
    password = given or kept or secrets.token_urlsafe(24)
    if password != kept:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, password.encode())
    return password


def regional_broker(region: str, data_dir: Path, *, central_host: str, central_port: int,
                    host: str = "0.0.0.0", port: int = 1883,  # noqa: S104 - the sites' players must reach it
                    bridge_password: str | None = None, cafile: str | None = None,
                    tls: TlsListener | None = None, binary: str | None = None) -> ManagedMosquitto:
    """A regional Mosquitto as the server's own: generated config, dynsec with an admin account, the bridge."""
    bridge_role(region)  # refuses a bad region name before anything is written
    password = _bridge_password(Path(data_dir), bridge_password)
    return ManagedMosquitto(Path(data_dir), host=host, port=port, tls=tls, binary=binary, extra_config=bridge_config(
        region, central_host=central_host, central_port=central_port, password=password, cafile=cafile))


def region_entry(broker: ManagedMosquitto, *, public_url: str, sites: list[str]) -> dict[str, object]:
    """The region's entry for the server's SIGNAGE_MQTT_REGIONS, with the secrets this broker was born with.

    The server reaches the admin account at the address the players use; edit `url` if it has a nearer one.
    """
    admin = json.loads(broker.paths.account.read_text(encoding="utf-8"))
    return {"url": public_url, "username": admin["username"],
            "password": admin["password"], "public_url": public_url, "sites": sites,
            "bridge_password": (broker.paths.root / BRIDGE_PASSWORD_FILE).read_text(encoding="utf-8").strip()}
