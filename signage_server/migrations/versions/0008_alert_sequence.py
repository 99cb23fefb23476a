"""alerts: one locked counter row hands out alert versions; versions become 64-bit

Revision ID: 0008_alert_sequence
Revises: 0007_reports
Create Date: 2026-11-26 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_alert_sequence'
down_revision: str | None = '0007_reports'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alert_sequence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # Start where the alerts already issued left off, so no player sees a version it already passed.
    op.execute("INSERT INTO alert_sequence (id, last_version) SELECT 1, COALESCE(MAX(v), 0) FROM ("
               "SELECT MAX(version) AS v FROM alerts UNION ALL SELECT MAX(withdrawal_version) FROM alerts) AS issued")
    if op.get_bind().dialect.name == 'postgresql':
        # Versions start at the clock's seconds (see alerts.service): past 2038 they need 64 bits.
        # SQLite's INTEGER is already 64-bit, and rebuilding the table there would cascade to alert_targets.
        op.alter_column('alerts', 'version', type_=sa.BigInteger(), existing_nullable=False)
        op.alter_column('alerts', 'withdrawal_version', type_=sa.BigInteger(), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('alerts', 'withdrawal_version', type_=sa.Integer(), existing_nullable=True)
        op.alter_column('alerts', 'version', type_=sa.Integer(), existing_nullable=False)
    op.drop_table('alert_sequence')
