"""reports: append-only presence history for screen availability

Revision ID: 0007_reports
Revises: 0005_transport
Create Date: 2026-11-26 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007_reports'
down_revision: str | None = '0005_transport'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('presence_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['screen_id'], ['screens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_presence_events_screen_at', 'presence_events', ['screen_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_presence_events_screen_at', table_name='presence_events')
    op.drop_table('presence_events')
