"""A tiny sd_notify: tells systemd we are ready and alive, so a hung player gets restarted.

Speaks the datagram protocol of sd_notify(3) on $NOTIFY_SOCKET directly (a path, or an
abstract name starting with '@'); no dependency, and a no-op when not run by systemd.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends READY=1, WATCHDOG=1, STATUS=... to systemd; every call reports whether it was delivered."""

    def __init__(self, socket_address: str | None) -> None:
        self.address: str | None = None
        if socket_address:
            if not (socket_address.startswith("/") or socket_address.startswith("@")):
                raise ValueError(
                    f"NOTIFY_SOCKET must be a path or @abstract name, got {socket_address!r}"
                )
            # '@' marks Linux's abstract namespace, spelled with a leading NUL on the wire.
            self.address = (
                "\0" + socket_address[1:] if socket_address.startswith("@") else socket_address
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send one message of KEY=value lines; False when not under systemd or the send failed."""
        if self.address is None:
            return False
        lines = []
        for key, value in fields.items():
            text = str(value)
            if "\n" in text:
                text = text.replace("\n", " ")  # one field per line in the protocol
            lines.append(f"{key}={text}")
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, self.address)
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup done: the last verified content is on screen."""
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=status)

    def watchdog(self) -> bool:
        """The playback loop is alive; call at least every watchdog_interval() seconds."""
        return self.notify(WATCHDOG=1)

    def status(self, text: str) -> bool:
        """One line shown by `systemctl status`."""
        return self.notify(STATUS=text)

    def stopping(self) -> bool:
        return self.notify(STOPPING=1)


def watchdog_interval(
    environ: Mapping[str, str] | None = None, *, pid: int | None = None
) -> float | None:
    """Seconds between pets (half of WatchdogSec, as sd_watchdog_enabled advises); None if off."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner and int(owner) != (os.getpid() if pid is None else pid):
        return None  # meant for another process (e.g. a wrapper script)
    value = int(usec)
    if value <= 0:
        raise ValueError(f"WATCHDOG_USEC must be positive, got {usec!r}")
    return value / 2 / 1_000_000
