"""play log: which languages were on screen and for how long (segments), crash and clock-jump flags

Until now a play record carried one language: the first frame's on rotate and ticker screens,
always Vietnamese on stacked ones. Those rows keep that value in `language` but are marked
`language_split = 'unknown'`: their real split cannot be known, so reports show it as unknown
rather than inventing one. New rows carry their segments in play_log_segments.

Revision ID: 0010_play_log_languages
Revises: 0009_manifest_envelope_z
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010_play_log_languages'
down_revision: str | None = '0009_manifest_envelope_z'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('play_log') as batch:
        batch.alter_column('language', existing_type=sa.String(8), nullable=True)
        # Existing rows get 'unknown' from the server default; new rows are written with 'segments'.
        batch.add_column(sa.Column('language_split', sa.String(16), nullable=False, server_default='unknown'))
        batch.add_column(sa.Column('interrupted', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('clock_jump_ms', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('play_log') as batch:
        batch.alter_column('language_split', server_default=None)
        batch.alter_column('interrupted', server_default=None)
        batch.alter_column('clock_jump_ms', server_default=None)
    op.create_table(
        'play_log_segments',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('play_id', sa.Integer(), sa.ForeignKey('play_log.id', ondelete='CASCADE'), nullable=False),
        sa.Column('language', sa.String(8), nullable=False),
        sa.Column('offset_ms', sa.Integer(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
    )
    op.create_index('ix_play_log_segments_play', 'play_log_segments', ['play_id'])


def downgrade() -> None:
    # The old column meant "the first frame's language": the first segment says exactly that.
    op.execute("UPDATE play_log SET language = (SELECT s.language FROM play_log_segments s "
               "WHERE s.play_id = play_log.id ORDER BY s.offset_ms, s.id LIMIT 1) WHERE language IS NULL")
    op.execute("UPDATE play_log SET language = 'vi' WHERE language IS NULL")  # a play with no segment at all
    op.drop_index('ix_play_log_segments_play', table_name='play_log_segments')
    op.drop_table('play_log_segments')
    with op.batch_alter_table('play_log') as batch:
        batch.drop_column('clock_jump_ms')
        batch.drop_column('interrupted')
        batch.drop_column('language_split')
    with op.batch_alter_table('play_log') as batch:
        batch.alter_column('language', existing_type=sa.String(8), nullable=False)
