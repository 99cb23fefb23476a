"""caption revisions: a history per slide and language, one live (last approved), one pending

Each existing caption row becomes a revision with the same id (audit events keep pointing at it):
an approved caption becomes the live revision, any other state the pending one. Translations
record the Vietnamese revision they translate: for existing rows, the slide's Vietnamese row
(it was the only one there was).

Revision ID: 0013_caption_revisions
Revises: 0012_display_names
Create Date: 2026-12-03 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_caption_revisions'
down_revision: str | None = '0012_display_names'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = "state = 'approved'"
_PENDING = "state IN ('draft', 'submitted', 'returned')"


def upgrade() -> None:
    op.create_table('caption_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slide_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=True),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['slide_id'], ['slides.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['caption_revisions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('caption_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_caption_revisions_slide_id'), ['slide_id'], unique=False)
        batch_op.create_index('uq_caption_live', ['slide_id', 'language'], unique=True,
                              sqlite_where=sa.text(_LIVE), postgresql_where=sa.text(_LIVE))
        batch_op.create_index('uq_caption_pending', ['slide_id', 'language'], unique=True,
                              sqlite_where=sa.text(_PENDING), postgresql_where=sa.text(_PENDING))
    bind = op.get_bind()
    # Vietnamese first, so the translations' source_id points at a row that is already there.
    bind.exec_driver_sql(
        "INSERT INTO caption_revisions (id, slide_id, language, text, state, source_id, return_reason, author_id,"
        " approved_by_id, approved_at, urgent, version, created_at, updated_at)"
        " SELECT id, slide_id, language, text, state, NULL, return_reason, author_id, approved_by_id, approved_at,"
        " false, 1, updated_at, updated_at FROM captions WHERE language = 'vi'")
    bind.exec_driver_sql(
        "INSERT INTO caption_revisions (id, slide_id, language, text, state, source_id, return_reason, author_id,"
        " approved_by_id, approved_at, urgent, version, created_at, updated_at)"
        " SELECT c.id, c.slide_id, c.language, c.text, c.state,"
        " (SELECT v.id FROM captions v WHERE v.slide_id = c.slide_id AND v.language = 'vi'),"
        " c.return_reason, c.author_id, c.approved_by_id, c.approved_at, false, 1, c.updated_at, c.updated_at"
        " FROM captions c WHERE c.language <> 'vi'")
    if bind.dialect.name == 'postgresql':  # ids were copied: move the sequence past them
        bind.exec_driver_sql("SELECT setval(pg_get_serial_sequence('caption_revisions', 'id'),"
                             " COALESCE((SELECT max(id) FROM caption_revisions), 0) + 1, false)")
    with op.batch_alter_table('captions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_captions_slide_id'))
    op.drop_table('captions')


def downgrade() -> None:
    """Back to one row per slide and language: the pending revision if any, else the live one."""
    op.create_table('captions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slide_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('return_reason', sa.Text(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['slide_id'], ['slides.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slide_id', 'language', name='uq_caption_slide_language')
    )
    with op.batch_alter_table('captions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_captions_slide_id'), ['slide_id'], unique=False)
    op.get_bind().exec_driver_sql(
        "INSERT INTO captions (id, slide_id, language, text, state, return_reason, author_id, approved_by_id,"
        " approved_at, updated_at)"
        " SELECT r.id, r.slide_id, r.language, r.text, r.state, r.return_reason, r.author_id, r.approved_by_id,"
        " r.approved_at, r.updated_at FROM caption_revisions r"
        " WHERE r.state IN ('draft', 'submitted', 'returned') OR (r.state = 'approved' AND NOT EXISTS ("
        "  SELECT 1 FROM caption_revisions p WHERE p.slide_id = r.slide_id AND p.language = r.language"
        "  AND p.state IN ('draft', 'submitted', 'returned')))")
    with op.batch_alter_table('caption_revisions', schema=None) as batch_op:
        batch_op.drop_index('uq_caption_pending', sqlite_where=sa.text(_PENDING), postgresql_where=sa.text(_PENDING))
        batch_op.drop_index('uq_caption_live', sqlite_where=sa.text(_LIVE), postgresql_where=sa.text(_LIVE))
        batch_op.drop_index(batch_op.f('ix_caption_revisions_slide_id'))
    op.drop_table('caption_revisions')
