"""The one place out-of-range ids, numbers and dates in a URL become 404/422 instead of a database error."""

from __future__ import annotations

import types
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant

from signage_server.errors import Invalid, NotFound

# PostgreSQL `integer` ids stop here (SQLite's are 64-bit); no count, offset or id of ours comes near.
INT_MAX = 2**31 - 1
# Years the calendar and the report arithmetic are meant for; 0001-01-01 minus a day is an OverflowError.
DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2200, 12, 31)


def _kinds(annotation: Any) -> set[type]:
    """int/date/datetime behind Optional[...] and Annotated[...]."""
    if get_origin(annotation) in (Union, types.UnionType):
        return {kind for arg in get_args(annotation) for kind in _kinds(arg)}
    return {annotation} if isinstance(annotation, type) else set()


def _params(dependant: Dependant) -> tuple[list[Any], list[Any]]:
    """Path and query fields of a route and of every dependency under it (pagination's offset is one)."""
    path, query = list(dependant.path_params), list(dependant.query_params)
    for sub in dependant.dependencies:
        sub_path, sub_query = _params(sub)
        path += sub_path
        query += sub_query
    return path, query


def _route_params(request: Request) -> tuple[list[Any], list[Any]]:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return [], []
    cached: tuple[list[Any], list[Any]] | None = getattr(route, "_signage_params", None)
    if cached is None:
        cached = _params(dependant)
        route._signage_params = cached  # type: ignore[union-attr]
    return cached


def _out_of_range(kinds: set[type], raw: str) -> tuple[object, object] | None:
    """The (least, most) a value FastAPI would accept must lie within when it does not, or None; values it
    refuses are left to it."""
    if int in kinds:
        try:
            number = int(raw)
        except ValueError:
            return None
        return None if -INT_MAX <= number <= INT_MAX else (-INT_MAX, INT_MAX)
    if datetime in kinds or date in kinds:
        try:
            day = datetime.fromisoformat(raw).date() if datetime in kinds else date.fromisoformat(raw)
        except ValueError:
            return None
        return None if DATE_MIN <= day <= DATE_MAX else (DATE_MIN, DATE_MAX)
    return None


def bounded_params(request: Request) -> None:
    """Refuse path and query values beyond what the database and date arithmetic hold, before any handler runs.

    A path id out of range names nothing that exists: 404. A query value out of range is bad input: 422.
    """
    path_fields, query_fields = _route_params(request)
    for field in path_fields:
        raw = request.path_params.get(field.alias)
        if isinstance(raw, str) and _out_of_range(_kinds(field.field_info.annotation), raw):
            raise NotFound(field.alias.removesuffix("_id").replace("_", " "), raw)
    for field in query_fields:
        for raw in request.query_params.getlist(field.alias):
            bounds = _out_of_range(_kinds(field.field_info.annotation), raw)
            if bounds:
                raise Invalid("%(field)s must be between %(min)s and %(max)s", field=field.alias,
                              params={"field": field.alias, "min": bounds[0], "max": bounds[1]})
