"""screens' rotation dwell: the least time each language stays up on a rotate screen

Empty (NULL) means signage_core's default minimum dwell (3 s); the compiler lengthens a rotate item shorter
than languages x dwell, so every language gets at least that long (docs/protocol.md, "Rotation").

Revision ID: 0015_rotation_dwell
Revises: 0014_slide_retire_viewing
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015_rotation_dwell'
down_revision: str | None = '0014_slide_retire_viewing'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('screens') as batch:
        batch.add_column(sa.Column('rotation_dwell_s', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('screens') as batch:
        batch.drop_column('rotation_dwell_s')
