"""Canonical JSON: the one byte sequence server and player both sign and check for a given value."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any

from pydantic import BaseModel


class CanonicalError(ValueError):
    """A value that has no single canonical JSON form (NaN, naive datetime, set, non-string key)."""


def format_datetime(value: datetime) -> str:
    """UTC ISO-8601 with a `Z`; microseconds only when present, so equal instants give equal text."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise CanonicalError(f"naive datetime {value.isoformat()} has no instant; give it a timezone")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.isoformat(timespec=spec) + "Z"


def _prepare(value: object, where: str) -> Any:
    """Lower a value to plain JSON types, refusing anything whose encoding would be ambiguous."""
    kind = type(value)
    # Exact-type fast paths: manifests are mostly plain str/int/dict/list after model_dump.
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                key = _key(key, where)
            out[key] = _prepare(item, where + "." + key)
        return out
    if kind is list or kind is tuple:
        return [_prepare(item, where) for item in value]  # type: ignore[attr-defined]
    if isinstance(value, BaseModel):
        return _prepare(value.model_dump(mode="python", by_alias=True), where)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _prepare(value.value, where)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"{where}: {value} is not allowed in canonical JSON")
        return float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise CanonicalError(f"{where}: time of day {value} must be naive local wall time")
        return value.isoformat()
    if isinstance(value, Mapping):
        return {(k := _key(key, where)): _prepare(item, f"{where}.{k}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(item, where) for item in value]
    raise CanonicalError(f"{where}: {type(value).__name__} has no canonical JSON form")


def _key(key: object, where: str) -> str:
    """Object keys must be strings (StrEnum keys such as Language become their value)."""
    if isinstance(key, Enum):
        key = key.value
    if not isinstance(key, str):
        raise CanonicalError(f"{where}: object key {key!r} is not a string")
    return str(key)


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not \\u escapes), no NaN, datetimes as UTC `Z`."""
    prepared = _prepare(value, "$")
    text = json.dumps(
        prepared, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


@functools.lru_cache(maxsize=1024, typed=True)
def canonical_scalar(value: str | int | datetime) -> bytes:
    """canonical_json of a scalar that recurs: the compiler splices the same instants, key id and kind into
    every screen's body and envelope (json.dumps costs more than the lookup)."""
    return canonical_json(value)


def canonical_object(members: Mapping[str, bytes]) -> bytes:
    """canonical_json of an object whose member values are already canonical bytes.

    The same bytes canonical_json({k: v}) gives, without lowering the values again: a compiler that
    shares large members between many objects encodes them once and splices them here.
    """
    parts = [_encoded_key(_key(key, "$")) + members[key] for key in sorted(members)]
    return b"{" + b",".join(parts) + b"}"


@functools.lru_cache(maxsize=256)
def _encoded_key(key: str) -> bytes:
    """`"key":` as canonical_json writes it; a compiler splices the same few keys thousands of times."""
    return canonical_json(key) + b":"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys let two parsers see two different documents; refuse them."""
    out: dict[str, Any] = {}
    for key, item in pairs:
        if key in out:
            raise CanonicalError(f"duplicate object key {key!r}")
        out[key] = item
    return out


def _no_constant(name: str) -> Any:
    raise CanonicalError(f"{name} is not allowed in canonical JSON")


def loads_strict(data: bytes | str) -> Any:
    """Parse JSON received from the network, refusing duplicate keys, NaN/Infinity and bad UTF-8."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        result = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except CanonicalError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CanonicalError(f"not valid JSON: {exc}") from exc
    # Huge exponents parse to inf without going through parse_constant.
    canonical_json(result)
    return result
