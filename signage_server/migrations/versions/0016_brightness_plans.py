"""brightness plans: sites' coordinates, a plan (with its override) per screen or group

Sites get latitude/longitude (degrees, WGS 84) for sunrise/sunset; screens and groups get an optional
brightness plan as JSON (signage_server/screens/brightness.py; NULL: none). A screen's own plan beats
its groups'; the compiler puts the plan, with the site's coordinates, in the signed manifest
(docs/protocol.md, "Brightness"). The latest heartbeat keeps the level the player reports and why.

Revision ID: 0016_brightness_plans
Revises: 0015_rotation_dwell
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_brightness_plans'
down_revision: str | None = '0015_rotation_dwell'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sites') as batch:
        batch.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch.add_column(sa.Column('longitude', sa.Float(), nullable=True))
    with op.batch_alter_table('screens') as batch:
        batch.add_column(sa.Column('brightness', sa.JSON(), nullable=True))
    with op.batch_alter_table('screen_groups') as batch:
        batch.add_column(sa.Column('brightness', sa.JSON(), nullable=True))
    with op.batch_alter_table('screen_heartbeats') as batch:
        batch.add_column(sa.Column('brightness_percent', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('brightness_source', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('screen_heartbeats') as batch:
        batch.drop_column('brightness_source')
        batch.drop_column('brightness_percent')
    with op.batch_alter_table('screen_groups') as batch:
        batch.drop_column('brightness')
    with op.batch_alter_table('screens') as batch:
        batch.drop_column('brightness')
    with op.batch_alter_table('sites') as batch:
        batch.drop_column('longitude')
        batch.drop_column('latitude')
