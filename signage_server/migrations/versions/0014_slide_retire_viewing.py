"""retired slides and screen viewing distance

`slides.retired_at` / `retired_by_id`: a retired (archived) slide leaves every screen's manifest but keeps
its captions, history and play records; restoring clears them. `screens.viewing_distance_m`: how far the
readers stand from this LED, for the readability check; empty means the setting
`readability_viewing_distance_m`.

Revision ID: 0014_slide_retire_viewing
Revises: 0013_caption_revisions
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_slide_retire_viewing'
down_revision: str | None = '0013_caption_revisions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('slides') as batch:
        batch.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('retired_by_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_slides_retired_by_id_users', 'users', ['retired_by_id'], ['id'])
        batch.create_index('ix_slides_retired_at', ['retired_at'])
    with op.batch_alter_table('screens') as batch:
        batch.add_column(sa.Column('viewing_distance_m', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('screens') as batch:
        batch.drop_column('viewing_distance_m')
    with op.batch_alter_table('slides') as batch:
        batch.drop_index('ix_slides_retired_at')
        batch.drop_constraint('fk_slides_retired_by_id_users', type_='foreignkey')
        batch.drop_column('retired_by_id')
        batch.drop_column('retired_at')
