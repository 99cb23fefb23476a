"""Request-size limits and security headers, applied before any handler runs."""

from __future__ import annotations

import html
from collections.abc import Callable

from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signage_server.exception_handlers import error_response


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413; uploads get their own, larger limit."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = limit + 1
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            await self.app(scope, self._counting(receive, limit), send)
            return
        # No length declared (chunked): buffer up to the limit so the answer can still be a clean 413.
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        replay: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay_receive() -> Message:
            return replay.pop() if replay else await receive()

        await self.app(scope, replay_receive, send)

    def _counting(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # The client lied about Content-Length; stop reading rather than trust it.
                return {"type": "http.disconnect"}
            return message

        return counted

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        message = f"request body exceeds {limit} bytes"
        response: Response
        if not scope["path"].startswith("/api/") and b"text/html" in dict(scope["headers"]).get(b"accept", b""):
            # A page's form gets a page back, not JSON a person cannot read.
            response = HTMLResponse(_TOO_LARGE_PAGE.format(message=html.escape(message)), status_code=413)
        else:
            response = error_response(413, "payload_too_large", message, {"limit": limit})
        await response(scope, receive, send)


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
