"""The one place errors become HTTP: every failure leaves as {"error": {code, message, details}}."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from signage_server.errors import SignageError
from signage_server.i18n import pick_locale
from signage_server.i18n.errors import describe, describe_validation

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media",
}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None, display: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "details": jsonable_encoder(details or {})}
    if display is not None:
        # The same refusal in the language of the page the caller came from (page scripts show this one);
        # `message` stays English for API clients.
        body["display"] = display
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _page_locale(request: Request) -> str:
    from signage_server.web import LANG_COOKIE

    return pick_locale(request.cookies.get(LANG_COOKIE))


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "items", 0, "slide_id") -> "items.0.slide_id": the name a client knows.
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:]
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _signage_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SignageError)  # noqa: S101 (registered for this type only)
    return error_response(exc.status_code, exc.code, exc.message, exc.details,
                          display=describe(exc, _page_locale(request)))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    if not request.url.path.startswith("/api/"):
        # A page's form that FastAPI could not even parse: a page in the page's language, not JSON.
        from signage_server.web import render

        sentences = describe_validation(exc.errors(), _page_locale(request))
        return render(request, "error.html", None, status_code=422, message=" ".join(dict.fromkeys(sentences.values())))
    fields = [
        {"field": _field_path(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    return error_response(422, "invalid", message, {"field": first["field"], "fields": fields},
                          display=" ".join(dict.fromkeys(describe_validation(exc.errors(), _page_locale(request)).values())))


def _out_of_range(exc: Exception) -> bool:
    """A number the database cannot hold: SQLite's driver raises OverflowError past 64 bits (raw, or
    wrapped by SQLAlchemy), PostgreSQL answers SQLSTATE 22003 (numeric_value_out_of_range)."""
    if isinstance(exc, OverflowError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(orig, OverflowError) or getattr(orig, "sqlstate", None) == "22003"


async def _database_error(request: Request, exc: Exception) -> Response:
    """Bounds in URLs are checked before the handler (bounds.py); a body number past what a column holds
    reaches the database, which refuses it: bad input (422), never a 500. Anything else stays an error."""
    if not _out_of_range(exc):
        raise exc
    from signage_server.errors import Invalid

    return await _signage_error(request, Invalid("a number is larger than the server can store", field="body"))


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail),
                          headers=dict(exc.headers) if exc.headers else None)


def register(app: FastAPI) -> None:
    """Map the domain hierarchy, request validation and routing errors to the one shape."""
    app.add_exception_handler(SignageError, _signage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa.exc.StatementError, _database_error)
    app.add_exception_handler(OverflowError, _database_error)
