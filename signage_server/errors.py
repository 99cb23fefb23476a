"""Domain exceptions: services raise these, one handler turns them into the one error shape."""

from __future__ import annotations

from typing import Any


class SignageError(Exception):
    """Base of every error a user can cause; carries the HTTP status the handler will use."""

    status_code = 400
    code = "error"
    # True when the request's writes must be committed although the request fails.
    keep_changes = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None) -> None:
        # With params, message is a %(name)s template: the API gets it filled in English, the pages
        # translate the template first (signage_server.i18n.errors) and fill it after.
        self.template = message
        self.params: dict[str, Any] = dict(params or {})
        if params:
            message = message % self.params
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class Invalid(SignageError):
    status_code = 422
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None) -> None:
        merged = dict(details or {})
        if field is not None:
            merged.setdefault("field", field)
        super().__init__(message, details=merged, params=params)



class Unauthorized(SignageError):
    status_code = 401
    code = "unauthorized"


class Forbidden(SignageError):
    status_code = 403
    code = "forbidden"


class NotFound(SignageError):
    status_code = 404
    code = "not_found"

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key!r} not found", details={"entity": entity, "key": str(key)})


class Conflict(SignageError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(SignageError):
    """The client edited an older version (If-Match / hidden revision field): nothing was written."""

    status_code = 412
    code = "precondition_failed"


class PayloadTooLarge(SignageError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMedia(SignageError):
    status_code = 415
    code = "unsupported_media"


class RateLimited(SignageError):
    status_code = 429
    code = "rate_limited"


class ConfigError(Exception):
    """Bad configuration found at start-up: the process refuses to start."""
