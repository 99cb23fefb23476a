"""zones: a zone template per screen, data feeds for its strip, alert cover, ticker play records

Screens get an optional `zones` JSON (signage_server/screens/zones.py StoredZones; NULL: one zone, as
before); `data_feeds` holds each polled source and its last reading; alert templates say whether an alert
covers the main zone or the whole screen (default full, as before); play records say their zone (NULL: the
main zone, every record before zones). docs/protocol.md, "Zones" and "Data feeds".

Revision ID: 0018_zones_feeds
Revises: 0017_site_viewing_distance
Create Date: 2026-12-03 19:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018_zones_feeds'
down_revision: str | None = '0017_site_viewing_distance'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('screens') as batch:
        batch.add_column(sa.Column('zones', sa.JSON(), nullable=True))
    with op.batch_alter_table('alert_templates') as batch:
        batch.add_column(sa.Column('cover', sa.String(length=8), nullable=False, server_default='full'))
    # A closed gate takes the whole sign; health and weather notices leave the time strip and ticker running.
    op.execute("UPDATE alert_templates SET cover = 'main' WHERE key IN ('disease-control', 'severe-weather')")
    with op.batch_alter_table('play_log') as batch:
        batch.add_column(sa.Column('zone', sa.String(length=16), nullable=True))
    op.create_table(
        'data_feeds',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(length=64), nullable=False, unique=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=False),
        sa.Column('period_s', sa.Integer(), nullable=False),
        sa.Column('values', sa.JSON(), nullable=True),
        sa.Column('observed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('data_feeds')
    with op.batch_alter_table('play_log') as batch:
        batch.drop_column('zone')
    with op.batch_alter_table('alert_templates') as batch:
        batch.drop_column('cover')
    with op.batch_alter_table('screens') as batch:
        batch.drop_column('zones')
