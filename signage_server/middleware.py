"""Request-size limits and security headers, applied before any handler runs."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signage_server.exception_handlers import error_response


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 as they stream; uploads get a larger limit, but only for the logged in.

    Nothing is buffered here: bytes are counted as the handler reads them, and the moment the count
    passes the limit the handler is told the client went away and the client gets the 413. An upload
    route (limit above `small_limit`) first asks `refuse_anonymous` whether the request carries a valid
    session or token, so an anonymous client never gets its large body read at all.
    """

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int], small_limit: int,
                 refuse_anonymous: Callable[[Scope], Awaitable[Response | None]] | None = None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.small_limit = small_limit
        self.refuse_anonymous = refuse_anonymous

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = limit + 1
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
        if limit > self.small_limit and self.refuse_anonymous is not None:
            refusal = await self.refuse_anonymous(scope)
            if refusal is not None:
                # Answered without reading the body; the server closes the connection after it.
                await refusal(scope, _no_body, send)
                return
        seen = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # Chunked, or a Content-Length that lied: stop here, the handler sees a client that left.
                exceeded = True
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the handler's answer to the "disconnect"; the 413 below replaces it
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._too_large(scope, receive, send, limit)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = f"request body exceeds {limit} bytes"
        response: Response
        if not scope["path"].startswith("/api/") and b"text/html" in dict(scope["headers"]).get(b"accept", b""):
            # A page's form gets a page back, not JSON a person cannot read.
            response = HTMLResponse(_TOO_LARGE_PAGE.format(message=html.escape(message)), status_code=413)
        else:
            response = error_response(413, "payload_too_large", message, {"limit": limit})
        await response(scope, receive, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


_TOO_LARGE_PAGE = (
    '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>413</title>'
    '<link rel="stylesheet" href="/static/app.css"></head><body><main><p class="flash error" role="alert">'
    "Tệp quá lớn / File too large: {message}</p><p>"
    '<a href="/slides">←</a></p></main></body></html>'
)

# Pages use only same-origin scripts and styles; nothing may frame them (clickjacking).
CSP = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Every response, error pages and 413s included, carries the same security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _value in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
