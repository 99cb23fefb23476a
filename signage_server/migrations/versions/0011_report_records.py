"""reports: screens' commissioning and revocation dates, display names; stored periodic report records

Revision ID: 0011_report_records
Revises: 0010_play_log_languages
Create Date: 2026-12-03 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_report_records'
down_revision: str | None = '0010_play_log_languages'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('screens') as batch:
        batch.add_column(sa.Column('display_name', sa.String(length=200), nullable=False, server_default=''))
        batch.add_column(sa.Column('commissioned_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
    # Screens already in service: commissioned at their first enrolment in the audit log, else their first
    # presence event (a screen that reported was enrolled), else when the row last changed.
    op.execute(
        "UPDATE screens SET commissioned_at = COALESCE("
        "(SELECT MIN(a.at) FROM audit_events a WHERE a.entity = 'screen' AND a.entity_id = CAST(screens.id AS TEXT) "
        "AND a.action = 'screen.enrolled'), "
        "(SELECT MIN(p.at) FROM presence_events p WHERE p.screen_id = screens.id), updated_at) "
        "WHERE enrolment IN ('enrolled', 'revoked')")
    op.execute(
        "UPDATE screens SET revoked_at = COALESCE("
        "(SELECT MIN(a.at) FROM audit_events a WHERE a.entity = 'screen' AND a.entity_id = CAST(screens.id AS TEXT) "
        "AND a.action = 'screen.revoked'), updated_at) WHERE enrolment = 'revoked'")
    op.create_table('report_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('narrative', sa.JSON(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_by', sa.Integer(), nullable=True),
    sa.Column('snapshot', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issued_by'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'year', name='uq_report_records_kind_year')
    )


def downgrade() -> None:
    op.drop_table('report_records')
    with op.batch_alter_table('screens') as batch:
        batch.drop_column('revoked_at')
        batch.drop_column('commissioned_at')
        batch.drop_column('display_name')
