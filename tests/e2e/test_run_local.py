"""scripts/run-local for real: two enrolled players show approved content, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from signage_server.transport.broker import free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "run-local"
SCREENS = ("loc-ninh-hoa-lu", "bu-dop-hoang-dieu")



def _descendants(pid: int) -> set[int]:
    """Every process below pid, read from /proc (the broker runs in its own session but is still a child)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _status(data_dir: Path, slug: str) -> dict[str, object]:
    try:
        return dict(json.loads((data_dir / "demo" / slug / "state" / "status.json").read_text()))
    except (OSError, ValueError):
        return {}


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "signage-server").exists(), reason="needs the repo .venv")
def test_run_local_plays_approved_content_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = dict(os.environ, SIGNAGE_DATA_DIR=str(data_dir), SIGNAGE_PORT=str(free_port()))
    env.pop("SIGNAGE_MQTT_URL", None)
    out = (tmp_path / "out.txt").open("w")
    proc = subprocess.Popen([str(SCRIPT), "--mqtt-port", str(free_port()), "--screenshot-period", "5"],
                            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 75
        statuses: dict[str, dict[str, object]] = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "out.txt").read_text()
            children |= _descendants(proc.pid)
            statuses = {slug: _status(data_dir, slug) for slug in SCREENS}
            if all(s.get("manifest_version") and s.get("showing") in ("item", "off") for s in statuses.values()):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"players did not get approved content: {statuses}\n{(tmp_path / 'out.txt').read_text()}")
        for slug in SCREENS:
            # "off" only outside the gates' on-hours: still a verified manifest, drawn as a dark frame.
            assert (data_dir / "demo" / slug / "frame.png").stat().st_size > 0
        children |= _descendants(proc.pid)
        names = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in children if _alive(pid)}
        assert sum(b"signage-player run" in n for n in names) == 2
        assert any(b"mosquitto" in n for n in names)
        assert any(b"signage-server run" in n for n in names)
    finally:
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=30)
        out.close()
    text = (tmp_path / "out.txt").read_text()
    assert code == 0, text
    left = [pid for pid in children if _alive(pid)]
    assert not left, f"orphans after Ctrl-C: {left}"
    assert text.count("password (shown once)") == 5
    # A second start reuses the accounts: nothing new is printed.
    again = subprocess.run([str(REPO / ".venv" / "bin" / "signage-server"), "demo-accounts"],
                           env={**env, "SIGNAGE_DEV": "1"},
                           capture_output=True, text=True, check=True)
    assert "password" not in again.stdout
