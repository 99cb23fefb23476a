"""The server's MQTT side: publish manifests, alerts and commands; receive screens' reports as models."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import JsonValue

from signage_core.mqtt_client import connect_client, make_client
from signage_core.protocol import (
    SPECS,
    AlertAck,
    BrokerParams,
    Heartbeat,
    PlayLogAck,
    PlayLogBatch,
    ProtocolError,
    ScreenshotHeader,
    Status,
    TopicKind,
    all_screens_filter,
    decode,
    decode_frame,
    encode,
    encode_envelope,
    group_alert_topic,
    key_handovers_topic,
    parse_screen_topic,
    screen_topic,
)

log = logging.getLogger(__name__)

Envelope = dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class ReportHandlers:
    """What the server does with each report; the DB-backed services supply these later."""

    on_status: Callable[[str, Status, datetime], None] | None = None
    on_heartbeat: Callable[[str, Heartbeat, datetime], None] | None = None
    # Returns the record ids it stored durably; only those are acknowledged to the player now (a handler that
    # stores later returns none and acknowledges with ServerHub.ack_playlog after its commit).
    on_playlog: Callable[[str, PlayLogBatch, datetime], Iterable[str]] | None = None
    on_alert_ack: Callable[[str, AlertAck, datetime], None] | None = None
    on_screenshot: Callable[[str, ScreenshotHeader, bytes, datetime], None] | None = None


_INBOUND = (TopicKind.STATUS, TopicKind.HEARTBEAT, TopicKind.PLAYLOG, TopicKind.ALERT_ACK, TopicKind.SCREENSHOT)


class ServerHub:
    """One broker connection for everything the server says to screens and hears from them."""

    def __init__(
        self,
        params: BrokerParams,
        handlers: ReportHandlers,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        publish_timeout_s: float = 10.0,
        listen: bool = True,
        on_reconnect: Callable[[], None] | None = None,
        reconnect_max_s: int = 30,
    ) -> None:
        self._params = params
        self._handlers = handlers
        self._clock = clock
        self._publish_timeout_s = publish_timeout_s
        # Off in a process that does not own the MQTT side: it publishes, the owner alone hears reports.
        self.listening = listen
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.rejected = 0  # reports refused as malformed or claiming another screen's id
        # Run (in its own thread) after every reconnect: a restarted broker may have lost retained state.
        self._on_reconnect = on_reconnect
        self.connects = 0
        self._client = make_client(params, f"signage-hub-{uuid.uuid4().hex[:8]}")
        self._client.max_inflight_messages_set(100)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._client.reconnect_delay_set(1, reconnect_max_s)

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect (and subscribe to all screens' reports when listening); raises if the broker refuses."""
        connect_client(self._client, self._params, keepalive=30)
        self._client.loop_start()
        ready = self._subscribed if self.listening else self._connected
        if not ready.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"server hub could not {'subscribe' if self.listening else 'connect'} on "
                               f"{self._params.url()}")

    def listen(self, timeout_s: float = 10.0) -> None:
        """Start hearing reports (this process took the MQTT side over); reconnects subscribe again."""
        self.listening = True
        self._subscribe(self._client)
        if not self._subscribed.wait(timeout_s):
            raise RuntimeError(f"server hub could not subscribe on {self._params.url()}")

    @property
    def connected(self) -> bool:
        """The broker connection is up now (for /readyz)."""
        return self._connected.is_set()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> ServerHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- outbound

    def _publish(self, topic: str, kind: TopicKind, payload: bytes) -> None:
        spec = SPECS[kind]
        info = self._client.publish(topic, payload, qos=spec.qos, retain=spec.retained)
        info.wait_for_publish(timeout=self._publish_timeout_s)
        if not info.is_published():
            raise RuntimeError(f"broker did not acknowledge {topic} within {self._publish_timeout_s}s")

    def publish_manifest(self, screen_id: str, envelope: Envelope) -> None:
        """Retained QoS 1, waiting for the broker's ack, so a player that connects later gets it."""
        self.publish_manifests([(screen_id, encode_envelope(envelope))])

    def publish_manifests(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Many retained manifests at once: all sent, then every broker ack awaited (not one round trip each).

        `items` are (screen id, envelope JSON) the server signed and stored itself. Raises naming every
        screen whose manifest the broker did not acknowledge.
        """
        self._publish_each(TopicKind.MANIFEST, items, "manifests")

    def publish_feeds(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Each screen's signed strip readings, retained, so a player that reconnects has them at once."""
        self._publish_each(TopicKind.FEED, items, "feed values")

    def _publish_each(self, kind: TopicKind, items: Sequence[tuple[str, bytes]], what: str) -> None:
        spec = SPECS[kind]
        sent = [(screen_id, self._client.publish(screen_topic(screen_id, kind), payload,
                                                 qos=spec.qos, retain=spec.retained)) for screen_id, payload in items]
        deadline = time.monotonic() + self._publish_timeout_s + len(sent) * 0.01
        missing = []
        for screen_id, info in sent:
            info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                missing.append(screen_id)
        if missing:
            raise RuntimeError(f"broker did not acknowledge the {what} of screens {', '.join(missing)}")

    def ack_playlog(self, screen_id: str, record_ids: list[str]) -> None:
        """Tell a screen which play records are stored durably (it may then forget them); not awaited."""
        self._client.publish(screen_topic(screen_id, TopicKind.PLAYLOG_ACK), encode(PlayLogAck(record_ids=record_ids)),
                             qos=SPECS[TopicKind.PLAYLOG_ACK].qos)

    def clear_manifest(self, screen_id: str) -> None:
        """Remove the retained manifest of a decommissioned screen."""
        self._publish(screen_topic(screen_id, TopicKind.MANIFEST), TopicKind.MANIFEST, b"")

    def publish_alert(self, group: str, envelope: Envelope) -> None:
        """Retained, so a screen that comes online during the alert still shows it (until it expires)."""
        self._publish(group_alert_topic(group), TopicKind.GROUP_ALERT, encode_envelope(envelope))

    def clear_alert(self, group: str) -> None:
        """Drop the retained alert after a withdrawal or expiry so newcomers do not get it."""
        self._publish(group_alert_topic(group), TopicKind.GROUP_ALERT, b"")

    def publish_key_chain(self, payload: bytes) -> None:
        """Retained, so a player that was offline during rotations applies every hand-over it missed."""
        self._publish(key_handovers_topic(), TopicKind.KEY_HANDOVERS, payload)

    def send_command(self, screen_id: str, envelope: Envelope) -> None:
        """A signed command for one screen; not retained, so an offline screen misses it by design."""
        self._publish(screen_topic(screen_id, TopicKind.COMMAND), TopicKind.COMMAND, encode_envelope(envelope))

    # -- inbound

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("server hub refused by broker: %s", reason)
            return
        self._connected.set()
        self.connects += 1
        if self.listening:  # subscribed here so a broker restart restores them
            self._subscribe(client)
        if self.connects > 1 and self._on_reconnect is not None:
            # Publishing waits for broker acks, which this network thread delivers: never block it.
            threading.Thread(target=self._reconnected, name="hub-reconnect", daemon=True).start()

    def _reconnected(self) -> None:
        hook = self._on_reconnect
        if hook is None:
            return
        try:
            hook()
        except Exception:  # the next reconnect tries again
            log.exception("reconnect hook failed")

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()
        if self.listening:
            self._subscribed.clear()

    def unlisten(self) -> None:
        """Stop hearing reports: another process owns the MQTT side now."""
        self.listening = False
        self._subscribed.clear()
        self._client.unsubscribe([all_screens_filter(kind) for kind in _INBOUND])

    def _subscribe(self, client: mqtt.Client) -> None:
        client.subscribe([(all_screens_filter(kind), SPECS[kind].qos) for kind in _INBOUND])

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, reasons: Any, props: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("server hub subscriptions refused: %s", reasons)
            return
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        received_at = self._clock()
        try:
            self.handle(msg.topic, bytes(msg.payload), received_at)
        except ProtocolError as exc:
            self.rejected += 1
            log.warning("rejected report on %s: %s", msg.topic, exc)
        except Exception:  # a failing handler must not take the hub down
            log.exception("handler for %s failed", msg.topic)

    def handle(self, topic: str, payload: bytes, received_at: datetime) -> None:
        """Parse one report, check it speaks for the screen whose topic it came on, dispatch it."""
        screen_id, kind = parse_screen_topic(topic)
        h = self._handlers
        if kind is TopicKind.STATUS:
            if not payload:
                return  # a cleared retained status
            status = decode(Status, payload)
            _same_screen(screen_id, status.screen_id)
            if h.on_status:
                h.on_status(screen_id, status, received_at)
        elif kind is TopicKind.HEARTBEAT:
            beat = decode(Heartbeat, payload)
            _same_screen(screen_id, beat.screen_id)
            if h.on_heartbeat:
                h.on_heartbeat(screen_id, beat, received_at)
        elif kind is TopicKind.PLAYLOG:
            batch = decode(PlayLogBatch, payload)
            _same_screen(screen_id, batch.screen_id)
            if h.on_playlog:
                stored = list(h.on_playlog(screen_id, batch, received_at))
                if stored:
                    self.ack_playlog(screen_id, stored)
        elif kind is TopicKind.ALERT_ACK:
            alert_ack = decode(AlertAck, payload)
            if h.on_alert_ack:
                h.on_alert_ack(screen_id, alert_ack, received_at)
        elif kind is TopicKind.SCREENSHOT:
            header, image = decode_frame(ScreenshotHeader, payload)
            if h.on_screenshot:
                h.on_screenshot(screen_id, header, image, received_at)
        else:
            raise ProtocolError(f"the server does not take {kind.value} messages")


def _same_screen(topic_screen: str, payload_screen: str) -> None:
    if topic_screen != payload_screen:
        raise ProtocolError(f"payload says screen {payload_screen!r} but came on {topic_screen!r}'s topic")


