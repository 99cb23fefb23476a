"""Limit/offset pagination shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from signage_server.app_state import SettingsDep
from signage_server.errors import Invalid

T = TypeVar("T")
M = TypeVar("M")


class PageParams(BaseModel):
    limit: int
    offset: int


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def _page_params(
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, description="items per page")] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageParams:
    maximum = settings.page_size_max
    if limit > maximum:
        raise Invalid("limit must be at most %(max)s", field="limit", params={"max": maximum})
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(_page_params)]


def paginate(session: Session, query: SelectOfScalar[M], *, limit: int, offset: int) -> tuple[list[M], int]:
    """One page of a query plus the total count, so clients can page without guessing."""
    total = session.exec(select(func.count()).select_from(query.order_by(None).subquery())).one()
    items = list(session.exec(query.limit(limit).offset(offset)).all())
    return items, int(total)
