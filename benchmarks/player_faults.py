"""Fault run against a real `signage-player run` (png output, offline): kill -9, a full disk, damaged files.

Run (as root for the disk-full part, which mounts a small tmpfs it removes afterwards):
    .venv/bin/python benchmarks/player_faults.py [--kills 20] [--full-seconds 30]
For each fault it prints the seconds the screen had no frame (process down, or frames stopped),
play records lost and duplicated, and how long recovery took. Items last 1 s, so a record is due
every second and a stalled screen shows as a gap.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from player_agent.agent import MANIFEST_FILE  # noqa: E402
from player_agent.fsutil import write_kept  # noqa: E402
from player_agent.journal import PlayRecord, scan_frames  # noqa: E402
from player_agent.state import StateStore  # noqa: E402
from signage_core.manifest import Slide  # noqa: E402
from tests.player.agent_world import CAPTIONS, enrol_state, manifest, signed  # noqa: E402

ITEM_S = 1.0
SCREEN = "fault-1"


@dataclass
class Player:
    """One state dir and config; the process is started and killed as the faults need."""

    root: Path
    state_dir: Path
    png: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from player_agent.cli import app; app()", "run", "--config", str(self.config)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return time.monotonic()

    def kill(self) -> float:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        return time.monotonic()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def frame_mtime(self) -> int:
        try:
            return self.png.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def first_frame_after(self, since_ns: int, timeout: float = 20.0) -> float | None:
        """Monotonic time the png output changed after `since_ns` with a non-black frame (None: never)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.frame_mtime() > since_ns and not black(self.png):
                return time.monotonic()
            if not self.alive():
                return None
            time.sleep(0.01)
        return None

    def records(self) -> list[PlayRecord]:
        try:
            data = (self.state_dir / "journal" / "plays.log").read_bytes()
        except FileNotFoundError:
            return []
        # A play is journaled when it starts and again when it closes, under one id: the last frame wins,
        # as the journal itself reads it; a voided one (never on screen) is no play.
        latest: dict[object, PlayRecord] = {}
        for _, payload in scan_frames(data).payloads:
            with contextlib.suppress(ValueError):
                record = PlayRecord.model_validate_json(payload)
                latest[record.id] = record
        return [r for r in latest.values() if r.state != "void"]

    def status(self) -> dict[str, object]:
        try:
            data = json.loads((self.state_dir / "status.json").read_bytes())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def black(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            return img.convert("L").getbbox() is None
    except (OSError, ValueError):
        return True


def make_player(root: Path, state_dir: Path, **broker: str) -> Player:
    """An enrolled player with a 3-slide manifest of 1 s items (offline unless broker given); png outside state_dir."""
    enrol_state(state_dir, SCREEN, groups=("border",), **broker)
    slides = [Slide(id=f"s{i}", captions=dict(CAPTIONS)) for i in range(3)]
    body = manifest(SCREEN, 4, now=datetime.now(UTC), slides=slides, durations_ms=int(ITEM_S * 1000), size=(320, 160))
    write_kept(state_dir / MANIFEST_FILE, signed(body), mode=0o644)
    StateStore(state_dir / "state.json").accept_manifest(4)
    png = root / "screen.png"
    config = root / "player.toml"
    config.write_text(
        f'state_dir = "{state_dir}"\noutput = "png"\nheartbeat_period_s = 1\nlog_level = "WARNING"\n'
        f'[png]\npath = "{png}"\n[screenshot]\nperiod_s = 0\n', encoding="utf-8")
    return Player(root, state_dir, png, config)


def duplicates(records: list[PlayRecord]) -> int:
    showings = [(r.slide_id, r.started_at) for r in records]
    ids = [r.id for r in records]
    return (len(showings) - len(set(showings))) + (len(ids) - len(set(ids)))


def frame_gaps(player: Player, seconds: float) -> float:
    """Seconds beyond the item length during which the png output did not change (a stalled screen)."""
    stalled = 0.0
    last_change = time.monotonic()
    last = player.frame_mtime()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)
        now, mtime = time.monotonic(), player.frame_mtime()
        if mtime != last:
            stalled += max(0.0, now - last_change - ITEM_S - 0.3)
            last, last_change = mtime, now
    stalled += max(0.0, time.monotonic() - last_change - ITEM_S - 0.3)
    return stalled


# -- the faults ---------------------------------------------------------------------------------


def kills(root: Path, count: int) -> None:
    player = make_player(root, root / "state")
    player.start()
    assert player.first_frame_after(0) is not None, "the player never showed a frame"
    dark: list[float] = []
    lost = 0
    for i in range(count):
        time.sleep(0.7 + (i % 5) * 0.37)  # kill at varied points of an item
        before = {r.id for r in player.records()}
        mark = player.frame_mtime()
        killed = player.kill()
        player.start()
        shown = player.first_frame_after(mark)
        dark.append((shown - killed) if shown is not None else float("inf"))
        lost += len(before - {r.id for r in player.records()})
    time.sleep(2)
    code = player.stop()
    records = player.records()
    print(f"kill -9 x{count}: dark after each kill median {statistics.median(dark):.2f} s, max {max(dark):.2f} s; "
          f"{len(records)} records, lost {lost}, duplicated {duplicates(records)}; clean stop exit {code}")


CORRUPTIONS: dict[str, Callable[[Path], None]] = {}


def _damage(name: str, *, copy_too: bool = False) -> Callable[[Path], None]:
    def run(state_dir: Path) -> None:
        path = state_dir / name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] + b"\x00\xff damaged")
        if copy_too:
            (state_dir / f"{name}.last-good").write_bytes(b"")

    return run


for _name in ("state.json", "trust.json", "identity.json", "manifest.json"):
    CORRUPTIONS[_name] = _damage(_name)
    CORRUPTIONS[f"{_name} + last-good copy"] = _damage(_name, copy_too=True)


def corruptions(root: Path) -> None:
    for label, corrupt in CORRUPTIONS.items():
        case = root / label.replace(" ", "_").replace("+", "and")
        case.mkdir()
        player = make_player(case, case / "state")
        player.start()
        player.first_frame_after(0)
        time.sleep(1.2)
        mark = player.frame_mtime()
        player.kill()
        corrupt(player.state_dir)
        started = player.start()
        shown = player.first_frame_after(mark)
        time.sleep(1.5)  # a heartbeat writes status.json
        status = player.status()
        alive = player.alive()
        player.stop()
        showing = status.get("showing") or "?"
        problems = status.get("problems") or []
        first = f"{shown - started:.2f} s" if shown is not None else "never"
        print(f"corrupt {label:<34} running: {'yes' if alive else 'NO'}; first frame {first}; "
              f"showing {showing}; problem reported: {'yes' if problems else 'NO'}")


@contextlib.contextmanager
def small_tmpfs(root: Path, size_mb: int) -> Iterator[Path | None]:
    """A size-limited filesystem to fill (root only); None when it cannot be mounted."""
    mount = root / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> Path:
    """Write until ENOSPC; the filler file is what the technician deletes."""
    filler = path / "filler"
    with filler.open("wb") as fh, contextlib.suppress(OSError):
        block = b"\0" * (1 << 16)
        while True:
            fh.write(block)
            fh.flush()
    return filler


def disk_full(root: Path, seconds: float) -> None:
    with small_tmpfs(root, 16) as disk:
        if disk is None:
            print("disk full: skipped (mounting a tmpfs needs root)")
            return
        player = make_player(root, disk / "state")
        player.start()
        player.first_frame_after(0)
        time.sleep(2)
        filler = fill(disk)
        full_from = datetime.now(UTC)
        stalled = frame_gaps(player, seconds)
        full_to = datetime.now(UTC)
        alive_while_full = player.alive()
        filler.unlink()
        freed = time.monotonic()
        freed_at = datetime.now(UTC)
        recovered = None
        while time.monotonic() - freed < 20:
            if any(r.started_at >= freed_at for r in player.records()):
                recovered = time.monotonic() - freed
                break
            time.sleep(0.05)
        time.sleep(2)
        code = player.stop()
        records = player.records()
        due = int((full_to - full_from).total_seconds() / ITEM_S)
        during = [r for r in records if full_from <= r.started_at < full_to]
        rec = f"{recovered:.2f} s" if recovered is not None else "never"
        print(f"disk full {seconds:.0f} s: running throughout: {'yes' if alive_while_full else 'NO'}; "
              f"frames stalled {stalled:.1f} s; plays started while full journaled {len(during)} of ~{due} "
              f"(lost ~{max(due - len(during), 0)}); duplicated {duplicates(records)}; first record after "
              f"space freed {rec}; clean stop exit {code}")


def download_while_full(root: Path, seconds: float) -> None:
    """A new manifest with a 4 MB picture arrives while the disk is full; space is freed later."""
    from signage_core import protocol as p
    from signage_server.transport.accounts import DynsecAccounts
    from signage_server.transport.broker import ManagedMosquitto
    from signage_server.transport.chunks import ChunkServer
    from tests.broker_fixtures import RawClient
    from tests.player.agent_world import asset_of

    with small_tmpfs(root, 16) as disk:
        if disk is None:
            print("download while full: skipped (mounting a tmpfs needs root)")
            return
        broker = ManagedMosquitto(root / "mosquitto", port=0)
        broker.start()
        assets = root / "assets"
        assets.mkdir()
        buf = io.BytesIO()
        Image.frombytes("RGB", (1200, 1100), random.Random(5).randbytes(1200 * 1100 * 3)).save(buf, format="PNG")
        picture = buf.getvalue()
        asset = asset_of(picture)
        (assets / asset.sha256).write_bytes(picture)
        chunks = ChunkServer(broker.params(), may_fetch=lambda screen, sha: True,
                             path_for=lambda sha: assets / sha if (assets / sha).exists() else None)
        chunks.start()
        server = RawClient(broker.params())
        player: Player | None = None
        try:
            with DynsecAccounts(broker.params()) as accounts:
                creds = accounts.add_screen(SCREEN, groups=["border"])
            server.connect()
            server.subscribe(p.screen_topic(SCREEN, p.TopicKind.HEARTBEAT))
            player = make_player(root, disk / "state", broker_url=broker.url(), username=creds.username,
                                 password=creds.password)
            player.start()
            player.first_frame_after(0)
            filler = fill(disk)
            slide = Slide(id="pic", captions=dict(CAPTIONS), image=asset.sha256)
            body = manifest(SCREEN, 5, now=datetime.now(UTC), slides=[slide], assets=[asset], size=(320, 160))
            published = time.monotonic()
            server.publish(p.manifest_topic(SCREEN), signed(body), retain=True)

            def beat_until(pred: Callable[[p.Heartbeat], bool], timeout: float) -> p.Heartbeat | None:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    msg = server.receive(0.2)
                    if msg is not None:
                        beat = p.decode(p.Heartbeat, bytes(msg.payload))
                        if pred(beat):
                            return beat
                return None

            waiting = beat_until(lambda b: any("waits for" in x for x in b.problems), 20)
            reported = time.monotonic() - published
            stalled = frame_gaps(player, seconds)
            alive = player.alive()
            filler.unlink()
            freed = time.monotonic()
            active = beat_until(lambda b: b.manifest_version == "5", 60)
            took = time.monotonic() - freed
            said = next((x for x in waiting.problems if "waits for" in x), "") if waiting else "nothing"
            print(f"download while disk full: reported in {reported:.1f} s ('{said}'); running: "
                  f"{'yes' if alive else 'NO'}; frames stalled {stalled:.1f} s; v5 active "
                  f"{f'{took:.1f} s after space was freed' if active else 'NEVER'}")
        finally:
            if player is not None:
                player.stop()
            server.close()
            chunks.stop()
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--full-seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, items of {ITEM_S:.0f} s, png output, offline")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "kills").mkdir()
        kills(root / "kills", args.kills)
        (root / "corrupt").mkdir()
        corruptions(root / "corrupt")
        (root / "full").mkdir()
        disk_full(root / "full", args.full_seconds)
        (root / "download").mkdir()
        download_while_full(root / "download", 10.0)


if __name__ == "__main__":
    main()
