"""Content-addressed file store: a file's name is its SHA-256, so identical uploads are one file."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from signage_server.errors import Invalid, NotFound, PayloadTooLarge, UnsupportedMedia
from signage_server.fileio import atomic_write_bytes

# Decoded formats we accept and the media type we record: by content, never by file name.
_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    size_bytes: int
    media_type: str
    width_px: int
    height_px: int


def sniff_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Decode the bytes fully with Pillow; anything it cannot decode is refused."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"file is {len(data)} bytes; the limit is {max_bytes}",
                              details={"field": "file", "limit": max_bytes})
    if not data:
        raise Invalid("file is empty", field="file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if width * height > max_pixels:
                    raise Invalid(f"image is {width}x{height}; at most {max_pixels} pixels",
                                  field="file")
                probe.load()  # a truncated or corrupt file fails here, not on the screen
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnsupportedMedia(f"not a readable image: {exc}", details={"field": "file"}) from None
    media_type = _MEDIA_TYPES.get(fmt)
    if media_type is None:
        allowed = ", ".join(sorted(_MEDIA_TYPES))
        raise UnsupportedMedia(f"image format {fmt or 'unknown'} is not accepted ({allowed})",
                               details={"field": "file"})
    return ImageInfo(hashlib.sha256(data).hexdigest(), len(data), media_type, width, height)


class AssetStore:
    """Files under <data_dir>/assets/ab/abcdef...; paths come only from hashes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, sha256: str) -> Path:
        """Store once; a second put of the same content is a no-op."""
        path = self.path_for(sha256)
        if not path.exists():
            atomic_write_bytes(path, data, mode=0o644)
        return path

    def read(self, sha256: str) -> bytes:
        path = self.path_for(sha256)
        if not path.exists():
            raise NotFound("asset file", sha256)
        return path.read_bytes()
