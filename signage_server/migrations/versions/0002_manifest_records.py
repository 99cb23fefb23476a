"""manifest history: one row per issued manifest version

Revision ID: 0002_manifests
Revises: 0001
Create Date: 2026-11-26 07:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002_manifests'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('manifest_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=80), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('horizon_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('horizon_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('envelope', sa.Text(), nullable=False),
    sa.Column('asset_sha256s', sa.JSON(), nullable=False),
    sa.Column('excluded', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('screen_id', 'version', name='uq_manifest_screen_version')
    )
    with op.batch_alter_table('manifest_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_manifest_records_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_manifest_records_screen_id'), ['screen_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('manifest_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_manifest_records_screen_id'))
        batch_op.drop_index(batch_op.f('ix_manifest_records_expires_at'))
    op.drop_table('manifest_records')
