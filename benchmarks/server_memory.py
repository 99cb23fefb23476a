"""Does the server's memory grow per approval? RSS and tracemalloc after each of K approval rounds, in-process.

Run: .venv/bin/python benchmarks/server_memory.py [--screens 1000] [--rounds 8] [--trace] [--mqtt]
The fleet bench's content and screens (fleet.Server.prepare, SQLite in a temp dir), then the app built here
(create_app, TestClient) and K times what the fleet bench's approver does: a new image and Vietnamese
caption on the slide every bench screen plays, the caption and the slide approved (readability check over
all N screens, recompile of the N manifests in the approving commit). Without --mqtt the transport is off;
with it the managed Mosquitto runs and the publisher keeps its per-screen payloads (no players connect).
A leak shows as RSS rising round after round once the first round has loaded fonts and filled caches.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from fastapi.testclient import TestClient
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import SLIDE, Server

from signage_server.app import create_app
from signage_server.config import load_settings


def rss_mib() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def approve_round(client: TestClient, tokens: dict[str, str], slide_id: int, k: int, n: int) -> float:
    """One approval as fleet.py makes it; returns the approving request's seconds."""
    def call(method: str, path: str, who: str, **kw: Any) -> Any:
        resp = client.request(method, f"/api/v1{path}", headers={"Authorization": f"Bearer {tokens[who]}"}, **kw)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    buf = io.BytesIO()
    Image.new("RGB", (192, 96), (20 + k % 200, 90, 160)).save(buf, format="PNG")
    call("PUT", f"/slides/{slide_id}/image", "operator", files={"file": ("a.png", buf.getvalue(), "image/png")})
    call("PUT", f"/slides/{slide_id}/captions/vi", "operator",
         json={"text": f"Cửa khẩu Quốc tế Hoa Lư – lượt {k}, {n} màn hình", "submit": True})
    call("POST", f"/slides/{slide_id}/captions/vi/approve", "approver")
    t = time.perf_counter()
    call("POST", f"/slides/{slide_id}/approve", "approver")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--screens", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--trace", action="store_true", help="tracemalloc top growth per round (slower, more RSS)")
    parser.add_argument("--mqtt", action="store_true", help="run the managed broker and the manifest publisher")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"server-memory-{args.screens}-"))
    tokens = Server(root, args.screens).prepare()  # sets SIGNAGE_* in os.environ for load_settings
    os.environ["SIGNAGE_MQTT_ENABLED"] = "1" if args.mqtt else "0"
    print(f"{args.screens} screens, {args.rounds} rounds, mqtt {'on' if args.mqtt else 'off'}, "
          f"tracemalloc {'on' if args.trace else 'off'}", flush=True)
    if args.trace:
        tracemalloc.start()
    with TestClient(create_app(load_settings())) as client:
        slide = next(s for s in client.get("/api/v1/slides?limit=200", headers={
            "Authorization": f"Bearer {tokens['operator']}"}).json()["items"] if s["name"] == SLIDE)
        gc.collect()
        print(f"started: RSS {rss_mib():.1f} MiB", flush=True)
        before = tracemalloc.take_snapshot() if args.trace else None
        for k in range(1, args.rounds + 1):
            seconds = approve_round(client, tokens, slide["id"], k, args.screens)
            gc.collect()
            line = f"round {k}: approve {seconds:.2f} s, RSS {rss_mib():.1f} MiB"
            if before is not None:
                now = tracemalloc.take_snapshot()
                current, _peak = tracemalloc.get_traced_memory()
                print(f"{line}, traced {current / 2**20:.1f} MiB", flush=True)
                for stat in now.compare_to(before, "lineno")[:6]:
                    print(f"    {stat}")
                before = now
            else:
                print(line, flush=True)


if __name__ == "__main__":
    main()
