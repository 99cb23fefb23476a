"""sites' viewing distance: how far a site's readers stand, the default of its screens' readability check

Empty (NULL) means the deployment setting `readability_viewing_distance_m`; a screen's own
`viewing_distance_m` overrides its site's (signage_server.screens.service.viewing_distance).

Revision ID: 0017_site_viewing_distance
Revises: 0016_brightness_plans
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_site_viewing_distance'
down_revision: str | None = '0016_brightness_plans'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sites') as batch:
        batch.add_column(sa.Column('viewing_distance_m', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sites') as batch:
        batch.drop_column('viewing_distance_m')
