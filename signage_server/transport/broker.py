"""The one-command default broker: a Mosquitto child process the server configures and keeps alive."""

from __future__ import annotations

import base64
import errno
import getpass
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from signage_core.protocol import MESSAGE_SIZE_LIMIT, BrokerParams, TlsOptions, parse_broker_url

__all__ = [
    "BrokerError",
    "BrokerNotInstalled",
    "BrokerParams",
    "BrokerPortInUse",
    "ManagedMosquitto",
    "TlsListener",
    "TlsOptions",
    "find_mosquitto",
    "parse_broker_url",
]

log = logging.getLogger(__name__)

DYNSEC_PLUGIN_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/arm-linux-gnueabihf/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
ADMIN_ROLE = "signage-server"
SERVER_ACCOUNT_FILE = "server-account.json"
INSTALL_HINT = (
    "install it (Debian/Ubuntu: apt-get install mosquitto) or set SIGNAGE_MQTT_URL="
    "mqtt://host:port to use an external broker"
)


class BrokerError(RuntimeError):
    """The managed broker could not be started or kept running; the message says why."""


class BrokerNotInstalled(BrokerError):
    """No mosquitto binary or dynamic-security plugin on this machine."""


class BrokerPortInUse(BrokerError):
    """Something else already listens on the broker's port."""


def find_mosquitto(binary: str | None = None) -> str:
    """Locate the mosquitto binary (Debian keeps it in /usr/sbin, often outside PATH)."""
    if binary is not None:
        if Path(binary).is_file() and os.access(binary, os.X_OK):
            return binary
        raise BrokerNotInstalled(f"mosquitto binary {binary!r} not found or not executable: {INSTALL_HINT}")
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise BrokerNotInstalled(f"mosquitto is not installed: {INSTALL_HINT}")
    return found


def find_dynsec_plugin(plugin: str | None = None) -> str:
    """Locate the dynamic-security plugin that holds per-screen accounts and ACLs."""
    candidates = (plugin,) if plugin else DYNSEC_PLUGIN_CANDIDATES
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise BrokerNotInstalled(
        f"mosquitto's dynamic-security plugin was not found (looked in {', '.join(c for c in candidates if c)}): "
        f"{INSTALL_HINT}"
    )


AUTO_PORT_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (mosquitto cannot report back a port 0 it bound)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        # Same option mosquitto sets, so a port in TIME_WAIT is not reported as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerPortInUse(
                    f"cannot start mosquitto: port {port} on {host} is already in use "
                    "(another broker?); choose another SIGNAGE_MQTT_PORT or point SIGNAGE_MQTT_URL at that broker"
                ) from None
            raise BrokerError(f"cannot bind mosquitto to {host}:{port}: {exc.strerror}") from None


def _atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def dynsec_password_fields(password: str, *, iterations: int = 101) -> dict[str, str | int]:
    """Hash a password exactly as the dynsec plugin does (PBKDF2-SHA512, 12-byte salt)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return {
        "password": base64.b64encode(digest).decode("ascii"),
        "salt": base64.b64encode(salt).decode("ascii"),
        "iterations": iterations,
    }


def initial_dynsec_config(admin_username: str, admin_password: str) -> dict[str, object]:
    """Dynsec state with only the server's account and everything else denied by default."""
    everything = [
        {"acltype": acltype, "topic": topic, "allow": True}
        for topic in ("#", "$CONTROL/dynamic-security/#", "$SYS/#")
        for acltype in ("publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern")
    ]
    return {
        "clients": [
            {
                "username": admin_username,
                "textName": "signage server",
                "roles": [{"rolename": ADMIN_ROLE}],
                **dynsec_password_fields(admin_password),
            }
        ],
        "groups": [],
        "roles": [{"rolename": ADMIN_ROLE, "acls": everything}],
        # Receive denied too: a screen gets only what a role grants it, even from retained messages.
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A second, TLS-only listener for remote players, beside the plain one the server's own clients use."""

    certfile: Path
    keyfile: Path
    port: int = 8883  # 0: a free port, chosen at construction
    host: str | None = None  # None: the plain listener's host


@dataclass(frozen=True, slots=True)
class _Paths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def dynsec(self) -> Path:
        return self.root / "dynamic-security.json"

    @property
    def persistence(self) -> Path:
        return self.root / "persistence"

    @property
    def log(self) -> Path:
        return self.root / "mosquitto.log"

    @property
    def account(self) -> Path:
        return self.root / SERVER_ACCOUNT_FILE

    @property
    def pid_file(self) -> Path:
        return self.root / "mosquitto.pid"


class ManagedMosquitto:
    """A supervised Mosquitto child: generated config, persistence, dynsec, restarted if it dies."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        admin_username: str = "signage-server",
        binary: str | None = None,
        dynsec_plugin: str | None = None,
        message_size_limit: int = MESSAGE_SIZE_LIMIT,
        autosave_interval_s: int = 1,
        restart_delay_s: float = 0.5,
        max_restart_delay_s: float = 30.0,
        on_restart: Callable[[], None] | None = None,
        tls: TlsListener | None = None,
        extra_config: Sequence[str] = (),
    ) -> None:
        if port < 0 or port > 65535:
            raise BrokerError(f"invalid broker port {port}")
        self.paths = _Paths(Path(data_dir))
        self.host = host
        self.port = port if port else free_port(host)
        # Ports we picked ourselves may be taken between picking and mosquitto's bind (another
        # connection's ephemeral port); start() then picks again instead of failing.
        self._auto_port = not port
        self._auto_tls_port = tls is not None and not tls.port
        if tls is not None:
            if tls.port < 0 or tls.port > 65535:
                raise BrokerError(f"invalid TLS listener port {tls.port}")
            tls_host = tls.host or host
            tls = TlsListener(Path(tls.certfile), Path(tls.keyfile), tls.port or free_port(tls_host), tls_host)
        self.tls = tls
        # Appended last (a bridge section, regions.bridge_config): everything after `connection` belongs to it.
        self.extra_config = list(extra_config)
        self.admin_username = admin_username
        self._binary = binary
        self._plugin = dynsec_plugin
        self.message_size_limit = message_size_limit
        self.autosave_interval_s = autosave_interval_s
        self._restart_delay_s = restart_delay_s
        self._max_restart_delay_s = max_restart_delay_s
        self._on_restart = on_restart
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0

    # -- public API

    @property
    def pid(self) -> int | None:
        """The current child's pid, for health pages and kill tests."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def params(self) -> BrokerParams:
        """Connection parameters for the server's own admin account."""
        account = json.loads(self.paths.account.read_text(encoding="utf-8"))
        return BrokerParams(self.host, self.port, account["username"], account["password"])

    def url(self) -> str:
        """The broker address a player on this host would be given."""
        return f"mqtt://{self.host}:{self.port}"

    def tls_url(self, host: str | None = None) -> str:
        """The TLS listener's address (`host` as the certificate names it); BrokerError without one."""
        if self.tls is None:
            raise BrokerError("this broker has no TLS listener")
        return f"mqtts://{host or self.tls.host}:{self.tls.port}"

    def write_config(self) -> Path:
        """Write mosquitto.conf (and on first use the dynsec state with the admin account) without starting."""
        self._prepare(find_dynsec_plugin(self._plugin))
        return self.paths.config

    def start(self, timeout_s: float = 10.0) -> BrokerParams:
        """Write config, start the child, wait until it accepts connections, then supervise it."""
        binary = find_mosquitto(self._binary)
        plugin = find_dynsec_plugin(self._plugin)
        self._end_orphan()
        if self.tls is not None:
            self._check_tls_files(self.tls)
        for attempt in range(AUTO_PORT_ATTEMPTS):
            try:
                _check_port_free(self.host, self.port)
                if self.tls is not None:
                    _check_port_free(self.tls.host or self.host, self.tls.port)
                self._prepare(plugin)
                self._stopping.clear()
                self._spawn(timeout_s)
                break
            except BrokerPortInUse:
                if not (self._auto_port or self._auto_tls_port) or attempt == AUTO_PORT_ATTEMPTS - 1:
                    raise
                log.warning("a port picked for mosquitto was taken before it started; picking again")
                self._repick_ports()
        self._binary = binary
        self._supervisor = threading.Thread(target=self._supervise, name="mosquitto-supervisor", daemon=True)
        self._supervisor.start()
        log.info("mosquitto started on %s:%d (pid %s)", self.host, self.port, self.pid)
        return self.params()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop supervising, then end the child with SIGTERM (SIGKILL if it hangs) so it saves its db."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    log.warning("mosquitto did not stop in %.0fs; killing it", timeout_s)
                    proc.kill()
                    proc.wait()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout_s)
        self._supervisor = None

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Block until the broker (possibly a restarted one) accepts TCP connections."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid is not None and self._accepts():
                return
            time.sleep(0.05)
        raise BrokerError(f"mosquitto not accepting on {self.host}:{self.port} after {timeout_s}s; see {self.paths.log}")

    def __enter__(self) -> ManagedMosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals

    def _prepare(self, plugin: str) -> None:
        root = self.paths.root
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        self.paths.persistence.mkdir(exist_ok=True)
        if not self.paths.account.exists():
            # First start: the server's admin account is born here and kept beside the dynsec state.
            password = secrets.token_urlsafe(32)
            account = {"username": self.admin_username, "password": password}
            _atomic_write(self.paths.dynsec, json.dumps(initial_dynsec_config(self.admin_username, password), indent=1).encode())
            _atomic_write(self.paths.account, json.dumps(account).encode())
        elif not self.paths.dynsec.exists():
            raise BrokerError(f"{self.paths.dynsec} is missing but {self.paths.account} exists: restore it or remove both")
        _atomic_write(self.paths.config, self._config_text(plugin).encode(), 0o600)

    def _repick_ports(self) -> None:
        if self._auto_port:
            self.port = free_port(self.host)
        if self.tls is not None and self._auto_tls_port:
            tls_host = self.tls.host or self.host
            self.tls = TlsListener(self.tls.certfile, self.tls.keyfile, free_port(tls_host), tls_host)

    @staticmethod
    def _check_tls_files(tls: TlsListener) -> None:
        # Mosquitto's own message for an unreadable key is one log line; name the file here instead.
        for what, path in (("certificate", tls.certfile), ("private key", tls.keyfile)):
            try:
                with Path(path).open("rb"):
                    pass
            except OSError as exc:
                raise BrokerError(f"TLS listener {what} {path} cannot be read: {exc.strerror}") from None

    def _end_orphan(self) -> None:
        """A server killed with -9 leaves its broker running on the port: end it if it is ours."""
        try:
            pid = int(self.paths.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if str(self.paths.config).encode() not in cmdline:
            return  # the pid was reused by something else
        log.warning("ending mosquitto pid %d left running by a previous server process", pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)

    def _config_text(self, plugin: str) -> str:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "root" if os.geteuid() == 0 else ""
        lines = [
            "# Generated by signage_server.transport.broker; edits are overwritten at start.",
            "per_listener_settings false",
            "allow_anonymous false",
            f"listener {self.port} {self.host}",
            f"plugin {plugin}",
            f"plugin_opt_config_file {self.paths.dynsec}",
            "persistence true",
            f"persistence_location {self.paths.persistence}/",
            # Save every second: a kill -9 loses at most ~1 s of retained state, which
            # on_restart republishes; saving on every change rewrote the db per manifest (O(n^2)).
            "autosave_on_changes false",
            f"autosave_interval {self.autosave_interval_s}",
            f"message_size_limit {self.message_size_limit}",
            # Without it, small requests wait out Nagle + delayed ACK (~40 ms a chunk round trip).
            "set_tcp_nodelay true",
            # Per client: the server's one connection takes a national burst of alert acks (5,000 screens
            # at once), a region's bridge a national approval's manifests; past it mosquitto drops QoS 1.
            "max_queued_messages 10000",
            f"log_dest file {self.paths.log}",
            f"pid_file {self.paths.pid_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if self.tls is not None:
            # Listener options below apply to this listener only; the plain one above stays as it is.
            lines += [
                f"listener {self.tls.port} {self.tls.host}",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
                "tls_version tlsv1.2",
            ]
        if user:
            # Mosquitto started as root drops to user 'mosquitto', who cannot write our data dir.
            lines.append(f"user {user}")
        lines += self.extra_config
        return "\n".join(lines) + "\n"

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _spawn(self, timeout_s: float) -> None:
        binary = find_mosquitto(self._binary)
        log_offset = self.paths.log.stat().st_size if self.paths.log.exists() else 0
        with self._lock:
            if self._stopping.is_set() and self._supervisor is not None:
                raise BrokerError("broker is stopping")
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [binary, "-c", str(self.paths.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C to the server must not kill the broker mid-write
            )
            proc = self._proc
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise self._startup_failure(proc, log_offset)
            if self._accepts():
                return
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        raise BrokerError(f"mosquitto did not accept connections within {timeout_s}s; see {self.paths.log}")

    def _startup_failure(self, proc: subprocess.Popen[bytes], log_offset: int) -> BrokerError:
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        logged = ""
        if self.paths.log.exists():
            with self.paths.log.open("rb") as fh:
                fh.seek(log_offset)
                logged = fh.read().decode(errors="replace")
        detail = (stderr + logged).strip().splitlines()[-5:]
        text = " | ".join(detail)
        if "Address already in use" in text:
            return BrokerPortInUse(f"cannot start mosquitto: port {self.port} on {self.host} is already in use ({text})")
        return BrokerError(f"mosquitto exited with code {proc.returncode} at start: {text or 'no output'}")

    def _supervise(self) -> None:
        delay = self._restart_delay_s
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
            if self._stopping.is_set():
                return
            log.error("mosquitto exited with code %s; restarting in %.1fs", code, delay)
            if self._stopping.wait(delay):
                return
            try:
                self._spawn(timeout_s=10.0)
            except BrokerError as exc:
                log.error("mosquitto restart failed: %s", exc)
                delay = min(delay * 2, self._max_restart_delay_s)
                continue
            self.restarts += 1
            delay = self._restart_delay_s
            log.warning("mosquitto restarted (pid %s, restart #%d)", self.pid, self.restarts)
            if self._on_restart is not None:
                try:
                    self._on_restart()
                except Exception:  # a failing hook must not stop supervision
                    log.exception("on_restart hook failed")
