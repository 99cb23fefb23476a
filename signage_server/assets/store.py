"""Content-addressed file store: a file's name is its SHA-256, so identical uploads are one file."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from signage_core.fsutil import atomic_write_bytes
from signage_server.errors import Invalid, NotFound, PayloadTooLarge, UnsupportedMedia

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


_REFUSED_MARKUP = "SVG, HTML and scripts are not accepted; upload a PNG, JPEG, WebP or GIF picture"


# An upload arrives as the temporary file Starlette spooled it to, and is decoded from there, never
# copied into memory first; imports and tests hand over bytes.
ImageSource = bytes | BinaryIO


def _size_and_head(data: ImageSource) -> tuple[int, bytes]:
    if isinstance(data, bytes):
        return len(data), data[:1024]
    size = data.seek(0, io.SEEK_END)
    data.seek(0)
    head = data.read(1024)
    data.seek(0)
    return size, head


def _looks_like_markup(data: bytes) -> bool:
    """Markup or a script where it means something: at the start, where browsers and kernels look.

    Inside a picture's compressed pixels `#!` or `<svg` are chance bytes (`#!` somewhere in the first
    KiB of ~1.6 % of photos); text chunks that could hold markup are dropped by clean_image anyway.
    """
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n\x0c")
    return head.startswith((b"<", b"#!"))


def sniff_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Decode the bytes fully with Pillow; anything it cannot decode is refused."""
    fmt, width, height, _image = _decode(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return ImageInfo(hashlib.sha256(data).hexdigest(), len(data), _MEDIA_TYPES[fmt], width, height)


def _decode(data: ImageSource, *, max_bytes: int, max_pixels: int) -> tuple[str, int, int, Image.Image]:
    """Type by decoding, never by name; size and pixel limits before the pixels are unpacked."""
    size, head = _size_and_head(data)
    if size > max_bytes:
        raise PayloadTooLarge("file is %(size)s bytes; the limit is %(limit)s",
                              details={"field": "file", "limit": max_bytes}, params={"size": size, "limit": max_bytes})
    if not size:
        raise Invalid("file is empty", field="file")
    if _looks_like_markup(head):
        raise UnsupportedMedia(_REFUSED_MARKUP, details={"field": "file"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
            fmt = probe.format or ""
            width, height = probe.size
            if width * height > max_pixels:
                raise Invalid("image is %(width)sx%(height)s pixels; at most %(limit)s pixels are accepted "
                              "(decompression-bomb limit)", field="file",
                              params={"width": width, "height": height, "limit": max_pixels})
            if fmt not in _MEDIA_TYPES:
                allowed = ", ".join(sorted(_MEDIA_TYPES))
                raise UnsupportedMedia("image format %(format)s is not accepted (%(allowed)s)",
                                       details={"field": "file"}, params={"format": fmt or "?", "allowed": allowed})
            probe.load()  # a truncated or corrupt file fails here, not on the screen
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid("image has more than %(limit)s pixels (decompression-bomb limit)",
                      field="file", params={"limit": max_pixels}) from None
    except UnidentifiedImageError:
        raise UnsupportedMedia("not a picture: PNG, JPEG, WebP or GIF expected", details={"field": "file"}) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedMedia("the picture is truncated or corrupt (%(reason)s)", details={"field": "file"},
                               params={"reason": str(exc)}) from None
    return fmt, width, height, probe


def clean_image(data: ImageSource, *, max_bytes: int, max_pixels: int) -> bytes:
    """Re-encode an upload: EXIF orientation applied, metadata and trailing payloads gone."""
    fmt, _w, _h, image = _decode(data, max_bytes=max_bytes, max_pixels=max_pixels)
    with image:
        upright = ImageOps.exif_transpose(image)
        out = io.BytesIO()
        if fmt == "JPEG":
            upright.convert("RGB").save(out, format="JPEG", quality=92, optimize=True)
        else:
            # One still frame: the LED renderer shows stills, and PNG keeps any transparency.
            mode = "RGBA" if upright.mode in ("RGBA", "LA", "P", "PA") else "RGB"
            upright.convert(mode).save(out, format="PNG", optimize=False)
    return out.getvalue()


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
