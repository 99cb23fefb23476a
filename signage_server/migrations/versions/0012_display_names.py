"""display names: screen groups and playlists get a name people read (screens got theirs in 0011)

The unique `name` stays the short identifier (content files, the API, the player's logs refer to it);
`display_name` is what the pages show, the identifier only as a small hint beside it. Empty means the
pages fall back to the identifier.

Revision ID: 0012_display_names
Revises: 0011_report_records
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_display_names'
down_revision: str | None = '0011_report_records'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ('screen_groups', 'playlists')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('display_name', sa.String(200), nullable=False, server_default=''))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('display_name')
