"""Alembic environment: runs on the connection db.upgrade_to_head hands over."""

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel

from signage_server import models  # noqa: F401  (registers every table on the metadata)
from signage_server.db import StrEnumType, UTCDateTime

target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations spell the plain column type so they never import app code that may change.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.length})"
    return False


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through signage_server.db.upgrade_to_head(engine)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
