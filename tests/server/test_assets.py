"""Uploads: sniffed by decoding, stored once by SHA-256, never under the client's name."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from signage_server.assets.models import Asset
from tests.server.world import png


def asset_count(session: Any) -> int:
    return int(session.exec(select(func.count()).select_from(Asset)).one())


def test_same_bytes_twice_is_one_asset(api: Any, world: dict[str, int], session: Any, settings: Any) -> None:
    data = png(40, 20, (1, 2, 3))
    before = asset_count(session)
    first = api.as_("operator").post("/api/v1/assets", files={"file": ("a.png", data, "image/png")})
    second = api.as_("operator").post("/api/v1/assets", files={"file": ("other-name.png", data, "image/png")})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert asset_count(session) == before + 1
    # The stored file is the server's re-encoding (metadata stripped), named by its own hash.
    digest = first.json()["sha256"]
    stored = settings.assets_dir / digest[:2] / digest
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    content = api.as_("translator").get(f"/api/v1/assets/{first.json()['id']}/content")
    assert content.content == stored.read_bytes() and content.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(content.content)) as shown, Image.open(io.BytesIO(data)) as sent:
        assert shown.convert("RGB").tobytes() == sent.convert("RGB").tobytes()


def test_slide_image_upload_dedups_across_slides(api: Any, world: dict[str, int], session: Any) -> None:
    data = png(64, 32, (9, 9, 9))
    before = asset_count(session)
    a = api.as_("operator").put(f"/api/v1/slides/{world['free_slide']}/image", files={"file": ("x.png", data)})
    b = api.as_("operator").put(f"/api/v1/slides/{world['draft_slide']}/image", files={"file": ("y.png", data)})
    assert a.status_code == b.status_code == 200
    assert a.json()["asset_id"] == b.json()["asset_id"] is not None
    assert asset_count(session) == before + 1


def test_new_image_withdraws_slide_approval(api: Any, world: dict[str, int]) -> None:
    slide = world["slide"]
    assert api.as_("approver2").post(f"/api/v1/slides/{slide}/approve").json()["publishable"]
    r = api.as_("operator").put(f"/api/v1/slides/{slide}/image", files={"file": ("n.png", png(8, 8))})
    assert r.json()["approved_at"] is None and r.json()["publishable"] is False


def test_not_an_image_is_refused_whatever_its_name(api: Any, world: dict[str, int], session: Any,
                                                   settings: Any) -> None:
    before = asset_count(session)
    r = api.as_("operator").post("/api/v1/assets",
                                 files={"file": ("../../etc/passwd.png", b"root:x:0:0:root", "image/png")})
    assert r.status_code == 415 and r.json()["error"]["details"]["field"] == "file"
    truncated = png(200, 100)[:60]
    r = api.as_("operator").post("/api/v1/assets", files={"file": ("t.png", truncated, "image/png")})
    assert r.status_code == 415
    assert asset_count(session) == before
    assert not (settings.data_dir.parent / "etc").exists()


def test_oversized_upload_is_413(api: Any, world: dict[str, int], settings: Any, session: Any) -> None:
    before = asset_count(session)
    big = b"\x89PNG" + b"\0" * (settings.max_upload_bytes + 10)
    r = api.as_("operator").post("/api/v1/assets", files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert asset_count(session) == before


def test_thousands_of_random_photos_are_never_mistaken_for_markup() -> None:
    """`#!` or `<svg` as chance bytes inside compressed pixels once refused ~1.6 % of ordinary photos."""
    import random

    from signage_server.assets.store import clean_image, sniff_image

    rng = random.Random(20)
    limits = {"max_bytes": 1 << 20, "max_pixels": 1 << 20}
    refused = []
    for i in range(2000):
        size = (rng.randint(8, 32), rng.randint(8, 32))
        fmt = ("PNG", "JPEG", "WEBP", "GIF")[i % 4]
        if fmt == "GIF":  # palette noise: quantising RGB noise would cost most of the test's time
            noise = Image.frombytes("P", size, rng.randbytes(size[0] * size[1]))
            noise.putpalette(rng.randbytes(768))
        else:
            noise = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
        buf = io.BytesIO()
        noise.save(buf, format=fmt, **({"quality": rng.randint(60, 95)} if fmt in ("JPEG", "WEBP") else {}))
        data = buf.getvalue()
        try:
            sniff_image(clean_image(data, **limits), **limits)  # the upload path: re-encode, then sniff
        except Exception as exc:  # any refusal is a false positive here
            refused.append((fmt, data[:1024].find(b"#!"), str(exc)))
    assert not refused, f"{len(refused)} of 2000 random pictures refused, first: {refused[:3]}"


def test_markup_and_scripts_are_still_refused_where_they_mean_something() -> None:
    import pytest

    from signage_server.assets.store import sniff_image
    from signage_server.errors import UnsupportedMedia

    limits = {"max_bytes": 1 << 20, "max_pixels": 1 << 20}
    for data in (b"#!/bin/sh\nrm -rf /\n", b"\xef\xbb\xbf  <svg onload=alert(1)>", b"\n\t<!DOCTYPE html><p>",
                 b"<?xml version='1.0'?><svg/>", b" <SCRIPT>alert(1)</SCRIPT>"):
        with pytest.raises(UnsupportedMedia, match="SVG, HTML and scripts are not accepted"):
            sniff_image(data, **limits)
