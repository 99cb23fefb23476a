"""The server loads its word segmenters when it starts, not when the first approver waits on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SEGMENTERS = ("khmernltk", "underthesea")

# A fresh interpreter: this test process has long since imported the segmenters for other tests.
PROGRAM = f"""
import sys, time
from fastapi.testclient import TestClient
from signage_server.app import create_app
from signage_server.config import Settings

settings = Settings(data_dir=sys.argv[1], secret_key="test-secret-" + "k" * 40, mqtt_enabled=False,
                    run_scheduler=False, warm_typesetting=sys.argv[2] == "on")
loaded = lambda: [name for name in {SEGMENTERS!r} if name in sys.modules]
with TestClient(create_app(settings)) as client:
    assert client.get("/healthz").status_code == 200  # the app answers while they load
    deadline = time.monotonic() + (60 if sys.argv[2] == "on" else 3)  # off: long enough to have started
    while time.monotonic() < deadline and len(loaded()) < len({SEGMENTERS!r}):
        time.sleep(0.05)
print(",".join(sorted(loaded())))
"""


@pytest.mark.parametrize(("warm", "expected"), [("on", ",".join(SEGMENTERS)), ("off", "")])
def test_the_segmenters_are_loaded_at_start_only_when_asked(tmp_path: Path, warm: str, expected: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path), warm], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert (lines[-1] if lines else "") == expected
