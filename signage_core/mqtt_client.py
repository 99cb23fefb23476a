"""One way to build a paho client from BrokerParams (TLS, credentials, no Nagle), for server and player."""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from signage_core.protocol import BrokerParams, TlsOptions

log = logging.getLogger(__name__)

# A reconnect failing the same way is logged again after this long, not on every retry.
_REPEAT_LOG_S = 600.0
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = {62, 64}


class BrokerTlsError(OSError):
    """TLS to the broker cannot be set up or was refused; the message names the problem and the file or host."""


def _no_delay(client: mqtt.Client, userdata: object, sock: Any) -> None:
    # Small requests must not wait for Nagle to batch them with the next write.
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tls_context(tls: TlsOptions) -> ssl.SSLContext:
    """A verifying TLS 1.2+ client context; a file that cannot be used raises BrokerTlsError naming it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and hostname checks on
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.ca_file is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        try:
            context.load_verify_locations(cafile=tls.ca_file)
        except OSError as exc:
            if isinstance(exc, ssl.SSLError):
                raise BrokerTlsError(f"broker CA file {tls.ca_file} holds no usable PEM certificate "
                                     f"({exc.reason or exc})") from exc
            raise BrokerTlsError(f"broker CA file {tls.ca_file} cannot be read: {exc.strerror or exc}") from exc
    if tls.certfile is not None:
        try:
            context.load_cert_chain(tls.certfile, tls.keyfile)
        except OSError as exc:
            detail = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
            raise BrokerTlsError(f"client certificate {tls.certfile} / key {tls.keyfile} cannot be used: "
                                 f"{detail or exc}") from exc
    if tls.insecure:
        context.check_hostname = False  # still verifies the chain, only the name is not checked
    return context


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
        client.tls_set_context(tls_context(params.tls))
        client.tls_insecure_set(params.tls.insecure)

    last: list[tuple[str, float]] = []

    def on_connect_fail(c: mqtt.Client, userdata: object) -> None:
        # paho calls this inside its `except OSError` around a background reconnect: the cause is current.
        exc = sys.exc_info()[1]
        if exc is None:
            return
        message, now = describe_connect_error(exc, params), time.monotonic()
        if last and last[0][0] == message and now - last[0][1] < _REPEAT_LOG_S:
            return  # the same failure on every retry would flood the log
        last[:] = [(message, now)]
        log.warning("client %s cannot reconnect: %s", client_id, message)

    client.on_connect_fail = on_connect_fail
    return client


def trust_source(params: BrokerParams) -> str:
    """Where the broker's certificate is checked against, for error messages."""
    if params.tls is None or params.tls.ca_file is None:
        return "the system trust store (no CA file configured)"
    return f"CA file {params.tls.ca_file}"


def describe_connect_error(exc: BaseException, params: BrokerParams) -> str:
    """What went wrong opening a connection, in words an operator can act on."""
    url = params.url()
    if isinstance(exc, BrokerTlsError):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        if exc.verify_code in _NAME_MISMATCH:
            return (f"broker certificate does not match host {params.host!r}: {detail} "
                    f"(connecting to {url}; the certificate must name the host in the broker URL)")
        return f"broker certificate not trusted: {detail} (connecting to {url}, checked against {trust_source(params)})"
    # A plain listener drops a ClientHello as a bad packet: the client sees a reset or an EOF.
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError) or (
            params.tls is not None and isinstance(exc, ConnectionResetError)):
        return f"broker {url} closed the connection during the TLS handshake: is port {params.port} a TLS listener?"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with broker {url} failed: {exc.reason or exc}"
    return f"broker {url} unreachable: {exc}"


def connect_client(client: mqtt.Client, params: BrokerParams, *, keepalive: int) -> None:
    """client.connect, with TLS failures raised as BrokerTlsError whose message says what is wrong."""
    try:
        client.connect(params.host, params.port, keepalive=keepalive)
    except ssl.SSLError as exc:
        raise BrokerTlsError(describe_connect_error(exc, params)) from exc
    except ConnectionResetError as exc:
        if params.tls is None:
            raise
        raise BrokerTlsError(describe_connect_error(exc, params)) from exc
