"""A periodic report as a record: its narrative is edited until it is issued; issuing freezes its figures.

The frozen copy is the whole Bundle as JSON (`snapshot`), turned back into the same dataclasses to print
again: the page, the PDF and the files of an issued report come from the snapshot, never from the journal,
so a re-print years later matches the signed paper even after late uploads or a changed screen name.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from signage_server.audit import service as audit
from signage_server.errors import Conflict, Invalid
from signage_server.reports.calendar import Period
from signage_server.reports.exports import NARRATIVE, Bundle
from signage_server.reports.models import ReportRecord
from signage_server.users.models import User

MAX_SECTION = 20_000  # characters per narrative section: pages of text, not a dump


def encode(value: Any) -> Any:
    """JSON-safe form of a Bundle: dataclasses as objects, dates ISO, zones by name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(kind: Any, data: Any) -> Any:
    """The inverse of `encode`, led by the type hints of the dataclasses."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return None if data is None else decode(options[0], data)
    if origin is list:
        (inner,) = typing.get_args(kind)
        return [decode(inner, v) for v in data]
    if origin is tuple:
        return tuple(decode(t, v) for t, v in zip(typing.get_args(kind), data, strict=True))
    if origin is dict:
        _k, inner = typing.get_args(kind)
        return {k: decode(inner, v) for k, v in data.items()}
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if kind is ZoneInfo:
        return ZoneInfo(data)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        known = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: decode(hints[k], v) for k, v in data.items() if k in known})
    if kind is float and isinstance(data, int):
        return float(data)
    return data


def bundle_of(snapshot: dict[str, Any]) -> Bundle:
    return typing.cast(Bundle, decode(Bundle, snapshot))


def find(session: Session, *, kind: str, year: int) -> ReportRecord | None:
    return session.exec(select(ReportRecord).where(ReportRecord.kind == kind, ReportRecord.year == year)).first()


def _check_narrative(fields: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in fields.items():
        if key not in NARRATIVE:
            raise Invalid("unknown narrative section %(key)s; use %(known)s", field=key,
                          params={"key": repr(key), "known": ", ".join(NARRATIVE)})
        text = str(value or "").replace("\r\n", "\n").strip()
        if len(text) > MAX_SECTION:
            raise Invalid("%(field)s is at most %(max)s characters", field=key, params={"field": key, "max": MAX_SECTION})
        out[key] = text
    return out


def save_narrative(session: Session, *, actor: User, kind: str, year: int, period: Period,
                   fields: dict[str, Any], now: datetime) -> ReportRecord:
    """Store the sections given (others kept); refused once the report is issued."""
    text = _check_narrative(fields)
    row = find(session, kind=kind, year=year)
    if row is not None and row.issued_at is not None:
        raise Conflict("this report was issued; its text and figures are frozen", details={"field": "narrative"})
    before = audit.snapshot(row)
    if row is None:
        row = ReportRecord(kind=kind, year=year, period_start=period.start, period_end=period.end, narrative={},
                           created_at=now, updated_at=now)
    row.narrative = {**row.narrative, **text}
    row.period_start, row.period_end, row.updated_at = period.start, period.end, now
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="report.narrative", entity="report", entity_id=row.id,
                 before=before, after=audit.snapshot(row), now=now)
    return row


def issue(session: Session, *, actor: User, kind: str, year: int, bundle: Bundle, now: datetime) -> ReportRecord:
    """Freeze the report as it stands: its figures and narrative become the record, printable again."""
    row = find(session, kind=kind, year=year)
    if row is not None and row.issued_at is not None:
        raise Conflict("this report was already issued", details={"field": "issued_at"})
    if row is None:
        row = ReportRecord(kind=kind, year=year, period_start=bundle.period.start, period_end=bundle.period.end,
                           narrative={}, created_at=now, updated_at=now)
    frozen = dataclasses.replace(bundle, narrative=dict(row.narrative), issued_at=now)
    row.snapshot = encode(frozen)
    row.issued_at, row.issued_by, row.updated_at = now, actor.id, now
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="report.issue", entity="report", entity_id=row.id,
                 before=None, after={"kind": kind, "year": year, "period": [str(bundle.period.start),
                                                                             str(bundle.period.end)]}, now=now)
    return row
