"""`scripts/run-local`'s core: server, managed broker and two enrolled png players as one Ctrl-C-able group."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from signage_core.fsutil import atomic_write_bytes
from signage_server.demo import DEMO_SCREENS

STOP_TIMEOUT_S = 15.0
# Kept in the data dir: the broker port enrolled players were told, and that playlists/ was imported once.
MQTT_PORT_FILE = "mqtt-port"
IMPORTED_MARKER = "playlists-imported"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (a system mosquitto often holds 1883)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    bin_dir: Path
    playlists: Path
    http_port: int
    mqtt_port: int
    host: str = "127.0.0.1"
    screenshot_period_s: float = 30.0
    reimport: bool = False

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def demo_dir(self, slug: str) -> Path:
        return self.data_dir / "demo" / slug


class Stack:
    """Starts the children in their own process groups so Ctrl-C stops them in order, none left behind."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._stopping = False  # set by the signal handler: watch() returns
        self._stopped = False
        self._log_dir = config.data_dir / "logs"

    # -- environment and one-shot commands

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "SIGNAGE_DEV": "1",
            "SIGNAGE_DATA_DIR": str(self.config.data_dir),
            "SIGNAGE_MQTT_PORT": str(self.config.mqtt_port),
            # Local demo: the broker only on loopback, and players told so.
            "SIGNAGE_MQTT_BIND_HOST": "127.0.0.1",
            "SIGNAGE_MQTT_PUBLIC_URL": f"mqtt://127.0.0.1:{self.config.mqtt_port}",
        })
        env.pop("SIGNAGE_MQTT_URL", None)
        env.pop("SIGNAGE_DATABASE_URL", None)
        return env

    def server_cli(self, *args: str) -> str:
        """Run `signage-server ARGS` to completion; its output is returned (and fails loudly)."""
        done = subprocess.run([str(self.config.bin_dir / "signage-server"), *args], env=self.env(),  # noqa: S603
                              capture_output=True, text=True, check=False, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"signage-server {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def player_config(self, slug: str) -> Path:
        folder = self.config.demo_dir(slug)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "player.toml"
        path.write_text(
            f'state_dir = "{(folder / "state").resolve()}"\n'
            'output = "png"\n'
            'heartbeat_period_s = 10\n'
            '[png]\n'
            f'path = "{(folder / "frame.png").resolve()}"\n'
            '[screenshot]\n'
            f'period_s = {self.config.screenshot_period_s}\n',
            encoding="utf-8")
        return path

    def enrolled(self, slug: str) -> bool:
        state = self.config.demo_dir(slug) / "state" / "state.json"
        return state.exists() and '"screen_id": "' in state.read_text(encoding="utf-8")

    # -- long-running children

    def spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log = (self._log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(list(argv), env=self.env(), stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                start_new_session=True)
        log.close()
        self.children.append((name, proc))
        return proc

    def wait_http(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        server = self.children[0][1]
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited ({server.returncode}); see {self._log_dir / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.config.base_url}/healthz", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the server did not answer on {self.config.base_url} within {timeout_s:.0f} s")

    def import_once(self) -> None:
        """playlists/ is the demo's starting content, imported on the first start only: later starts keep what
        people did in the UI (edits, drafts, uploads) unless --reimport asks for the files again."""
        c = self.config
        marker = c.data_dir / IMPORTED_MARKER
        if marker.exists() and not c.reimport:
            print(f"playlists/ was imported on the first start ({marker.read_text(encoding='utf-8').strip()}); "
                  "changes made in the UI are kept (--reimport imports the files again)")
            return
        print(self.server_cli("import-playlists", str(c.playlists)).strip())
        c.data_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(marker, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()).encode() + b"\n", mode=0o644)

    def prepare(self) -> None:
        """The one-shot steps of a start: migrate, import (first start only), accounts, approve the imports."""
        print(self.server_cli("migrate").strip())
        self.import_once()
        accounts = self.server_cli("demo-accounts")
        if accounts.strip():
            print("== demo accounts (passwords are shown this once; keep them):")
            print(accounts.rstrip())
        print(self.server_cli("demo-approve").strip())

    def start(self) -> None:
        c = self.config
        self.prepare()
        self.spawn("server", [str(c.bin_dir / "signage-server"), "run", "--host", c.host,
                              "--port", str(c.http_port)])
        self.wait_http()
        for slug, screen in DEMO_SCREENS.items():
            config = self.player_config(slug)
            player = str(c.bin_dir / "signage-player")
            if not self.enrolled(slug):
                code = self.server_cli("enrolment-code", screen).strip()
                done = subprocess.run([player, "enroll", "--server", c.base_url, "--code", code,  # noqa: S603
                                       "--config", str(config)], env=self.env(), capture_output=True, text=True,
                                      check=False, timeout=60)
                if done.returncode != 0:
                    raise RuntimeError(f"enrolling {screen} failed: {done.stderr.strip() or done.stdout.strip()}")
                print(f"enrolled {screen} ({slug})")
            self.spawn(f"player-{slug}", [player, "run", "--config", str(config)])

    def stop(self) -> None:
        """Players first (they flush journals), then the server, which stops its broker; then anything left."""
        if self._stopped:
            return
        self._stopped = True
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for _name, proc in reversed(self.children):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            # Anything else left in the child's group goes too.
            _signal_group(proc, signal.SIGKILL)
        # The broker runs in its own session (a Ctrl-C must not kill it mid-write); a killed server leaves it.
        _end_leftover_broker(self.config.data_dir / "broker")

    def banner(self) -> str:
        c = self.config
        lines = [
            f"== server:  {c.base_url}  (log in at {c.base_url}/login; API docs at {c.base_url}/api/docs)",
            f"== MQTT:    127.0.0.1:{c.mqtt_port} (managed Mosquitto"
            + (", 1883 was taken" if c.mqtt_port != 1883 else "") + ")",
        ]
        for slug, screen in DEMO_SCREENS.items():
            lines.append(f"== screen {screen}: {c.demo_dir(slug) / 'frame.png'}")
        lines.append(f"== logs:    {self._log_dir}   — Ctrl-C stops everything")
        return "\n".join(lines)

    def request_stop(self) -> None:
        self._stopping = True

    def watch(self) -> int:
        """Block until a signal or a child dies; returns the exit code for the script."""
        while not self._stopping:
            for name, proc in self.children:
                if proc.poll() is not None:
                    print(f"error: {name} exited ({proc.returncode}); see {self._log_dir / (name + '.log')}",
                          file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _end_leftover_broker(broker_dir: Path) -> None:
    pid_file = broker_dir / "mosquitto.pid"
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return  # no pid file or no such process: nothing left
    if b"mosquitto" not in cmdline or str(broker_dir).encode() not in cmdline:
        return  # the pid was reused by something that is not our broker
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def choose_mqtt_port(data_dir: Path, asked: int) -> int:
    """The broker port: the one asked for, else the one kept in data_dir from an earlier start (enrolled
    players were told it), else 1883 if free, else a free port. Whatever is chosen is kept for next time."""
    kept_file = data_dir / MQTT_PORT_FILE
    kept = None
    try:
        kept = int(kept_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        pass
    if asked:
        port = asked
    elif kept is not None:
        if not port_free(kept):
            raise RuntimeError(f"MQTT port {kept} (kept in {kept_file}, enrolled players use it) is taken by "
                               "another program; stop it, or pass --mqtt-port and re-enrol the demo players")
        port = kept
    else:
        port = 1883 if port_free(1883) else free_port()
    if port != kept:
        data_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(kept_file, f"{port}\n".encode(), mode=0o644)
    return port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("SIGNAGE_DATA_DIR", "var")))
    parser.add_argument("--playlists", type=Path, default=Path("playlists"))
    parser.add_argument("--http-port", type=int, default=int(os.environ.get("SIGNAGE_PORT", "8000")))
    parser.add_argument("--mqtt-port", type=int, default=int(os.environ.get("SIGNAGE_MQTT_PORT", "0")),
                        help="0: 1883 if free, else a free port")
    parser.add_argument("--screenshot-period", type=float, default=30.0)
    parser.add_argument("--reimport", action="store_true",
                        help="import playlists/ again over the data (the first start always imports)")
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    try:
        mqtt_port = choose_mqtt_port(data_dir, args.mqtt_port)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    config = StackConfig(data_dir=data_dir, bin_dir=Path(sys.executable).parent,
                         playlists=args.playlists.resolve(), http_port=args.http_port, mqtt_port=mqtt_port,
                         screenshot_period_s=args.screenshot_period, reimport=args.reimport)
    stack = Stack(config)

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stack.request_stop()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    code = 0
    try:
        stack.start()
        print(stack.banner(), flush=True)
        code = stack.watch()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("== stopping players, server and broker ...", flush=True)
        stack.stop()
        print("== stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
