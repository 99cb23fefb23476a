"""manifest changes: the targets a service changed in bulk, for the recompiler to take at commit

Replaces reading schedule and playlist audit snapshots to find the screens a bulk delete hid from the
ORM (signage_server/manifests/changes.py). Empty between transactions.

Revision ID: 0019_manifest_changes
Revises: 0018_zones_feeds
Create Date: 2026-12-04 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019_manifest_changes'
down_revision: str | None = '0018_zones_feeds'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'manifest_changes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('manifest_changes')
