"""Large bodies: credentials are checked before an upload is read, and the limit holds as bytes stream in."""

from __future__ import annotations

import asyncio
import io
import tracemalloc
from typing import Any

from PIL import Image
from sqlalchemy import func
from sqlmodel import Session, select

from signage_server.app import create_app
from signage_server.assets.models import Asset
from signage_server.config import Settings
from tests.server.conftest import TEST_SECRET

CHUNK = 64 * 1024
BOUNDARY = "signage-test-boundary"


class ChunkedClient:
    """A client sending `total` bytes of one multipart file with no Content-Length; counts what the server took."""

    def __init__(self, total: int) -> None:
        self.head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
                     "Content-Type: image/png\r\n\r\n").encode() + b"\x89PNG\r\n\x1a\n"
        self.total = total
        self.read = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.read >= self.total:
            return {"type": "http.disconnect"}
        body = self.head if self.read == 0 else b"\0" * min(CHUNK, self.total - self.read)
        self.read += len(body)
        return {"type": "http.request", "body": body, "more_body": self.read < self.total}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def call(self, app: Any, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
        raw = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
               (b"transfer-encoding", b"chunked"), (b"accept", b"text/html")]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": raw, "client": ("203.0.113.7", 40000), "server": ("testserver", 80)}
        asyncio.run(app(scope, self.receive, self.send))
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_anonymous_chunked_uploads_are_refused_before_their_body_is_read(app: Any, world: dict[str, int]) -> None:
    page = ChunkedClient(200 * 1024 * 1024)
    status, headers = page.call(app, "POST", "/slides/upload")
    assert status == 303 and headers["location"] == "/login?next=%2Fslides%2Fupload"
    assert page.read == 0
    api = ChunkedClient(200 * 1024 * 1024)
    status, _ = api.call(app, "PUT", "/api/v1/slides/1/image")
    assert status == 401 and api.read == 0
    forged = ChunkedClient(200 * 1024 * 1024)
    status, _ = forged.call(app, "POST", "/api/v1/assets", {"Authorization": "Bearer not-a-token"})
    assert status == 401 and forged.read == 0


def test_an_oversize_authenticated_chunked_upload_stops_at_the_limit_holds_no_copy_and_stores_nothing(
        engine: Any, seeded: dict[str, tuple[int, str]], tmp_path: Any) -> None:
    limit = 8 * 1024 * 1024
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_enabled=False, run_scheduler=False, max_upload_bytes=limit)
    app = create_app(settings, engine=engine)
    with Session(engine) as session:
        before = session.exec(select(func.count()).select_from(Asset)).one()
    client = ChunkedClient(10 * limit)
    tracemalloc.start()
    try:
        status, _ = client.call(app, "POST", "/api/v1/assets", {"Authorization": f"Bearer {seeded['operator'][1]}"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = b"".join(m.get("body", b"") for m in client.sent if m["type"] == "http.response.body")
    assert status == 413 and b"payload_too_large" in body
    assert client.read <= limit + CHUNK + len(client.head)  # stopped at the limit, not at the end
    # Streamed to a spool file, not gathered in memory (the old middleware held the whole body, twice).
    assert peak < limit / 2, f"{peak} bytes held in memory for an {limit}-byte limit"
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Asset)).one() == before
    assert not [path for path in settings.assets_dir.rglob("*") if path.is_file()]


class MultipartClient(ChunkedClient):
    """One whole multipart file (a small PNG with padding after its end), streamed in 64 KiB pieces."""

    def __init__(self, image: bytes, padding: int) -> None:
        super().__init__(0)
        body = (self.head[: -len(b"\x89PNG\r\n\x1a\n")] + image + b"\0" * padding
                + f"\r\n--{BOUNDARY}--\r\n".encode())
        self.pieces = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
        self.total = len(body)

    async def receive(self) -> dict[str, Any]:
        if not self.pieces:
            return {"type": "http.disconnect"}
        body = self.pieces.pop(0)
        self.read += len(body)
        return {"type": "http.request", "body": body, "more_body": bool(self.pieces)}


def test_an_accepted_upload_is_spooled_to_disk_not_held_in_memory(
        engine: Any, seeded: dict[str, tuple[int, str]], tmp_path: Any) -> None:
    limit = 8 * 1024 * 1024
    settings = Settings(data_dir=tmp_path, secret_key=TEST_SECRET, migrate_on_start=False,
                        mqtt_enabled=False, run_scheduler=False, max_upload_bytes=limit)
    app = create_app(settings, engine=engine)
    image = io.BytesIO()
    Image.new("RGB", (64, 32), (200, 30, 30)).save(image, format="PNG")
    client = MultipartClient(image.getvalue(), 6 * 1024 * 1024)  # trailing bytes: decoders ignore them
    tracemalloc.start()
    try:
        status, _ = client.call(app, "POST", "/api/v1/assets", {"Authorization": f"Bearer {seeded['operator'][1]}"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 201, b"".join(m.get("body", b"") for m in client.sent)
    assert peak < 3 * 1024 * 1024, f"{peak} bytes held in memory for a {client.total}-byte upload"
    stored = [path for path in settings.assets_dir.rglob("*") if path.is_file()]
    assert len(stored) == 1 and stored[0].stat().st_size < 10_000  # our re-encoding, the padding gone
