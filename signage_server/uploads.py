"""Uploaded files as the API and the pages both take them: checked against the limit before anything reads them."""

from __future__ import annotations

from typing import BinaryIO

from fastapi import UploadFile

from signage_server.errors import PayloadTooLarge


def read_upload(upload: UploadFile, limit: int) -> BinaryIO:
    """The uploaded file where Starlette spooled it (a temporary file), checked against the limit, unread."""
    size = upload.file.seek(0, 2)
    if size > limit:
        raise PayloadTooLarge("file exceeds %(limit)s bytes", details={"field": "file", "limit": limit},
                              params={"limit": limit})
    upload.file.seek(0)
    return upload.file
