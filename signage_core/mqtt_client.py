"""One way to build a paho client from BrokerParams (TLS, credentials, no Nagle), for server and player."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from signage_core.protocol import BrokerParams


def _no_delay(client: mqtt.Client, userdata: object, sock: Any) -> None:
    # Small requests must not wait for Nagle to batch them with the next write.
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def make_client(
    params: BrokerParams, client_id: str, *, clean_session: bool = True, reconnect_on_failure: bool = True
) -> mqtt.Client:
    """A VERSION2-callback client with credentials and TLS applied; not yet connected."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        reconnect_on_failure=reconnect_on_failure,
    )
    client.on_socket_open = _no_delay
    if params.username is not None:
        client.username_pw_set(params.username, params.password)
    if params.tls is not None:
        client.tls_set(
            ca_certs=params.tls.ca_file,
            certfile=params.tls.certfile,
            keyfile=params.tls.keyfile,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(params.tls.insecure)
    return client
