"""manifest history: keep each signed envelope zlib-compressed

A week's manifest is tens of kB of JSON re-issued daily per screen; kept for ever that is
~20 GB a year at 1,000 screens. Compressed it is a twelfth of that; the bytes published to
the screen are the decompressed envelope, unchanged.

Revision ID: 0009_manifest_envelope_z
Revises: 0008_alert_sequence
Create Date: 2026-11-26 11:40:00
"""

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0009_manifest_envelope_z'
down_revision: str | None = '0008_alert_sequence'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
_records = sa.table('manifest_records', sa.column('id', sa.Integer), sa.column('envelope', sa.Text),
                    sa.column('envelope_z', sa.LargeBinary))


def _convert(source: str, target: str, change: Callable[[Any], Any]) -> None:
    """Copy one column into the other in id order, a batch at a time, so memory stays flat."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(sa.select(_records.c.id, _records.c[source]).where(_records.c.id > last)
                            .order_by(_records.c.id).limit(_BATCH)).all()
        if not rows:
            return
        bind.execute(_records.update().where(_records.c.id == sa.bindparam('row_id'))
                     .values({target: sa.bindparam('value')}),
                     [{'row_id': row_id, 'value': change(value)} for row_id, value in rows])
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table('manifest_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('envelope_z', sa.LargeBinary(), nullable=True))
    _convert('envelope', 'envelope_z', lambda text: zlib.compress(text.encode('utf-8'), 1))
    with op.batch_alter_table('manifest_records', schema=None) as batch_op:
        batch_op.alter_column('envelope_z', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('envelope')


def downgrade() -> None:
    with op.batch_alter_table('manifest_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('envelope', sa.Text(), nullable=True))
    _convert('envelope_z', 'envelope', lambda data: zlib.decompress(data).decode('utf-8'))
    with op.batch_alter_table('manifest_records', schema=None) as batch_op:
        batch_op.alter_column('envelope', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('envelope_z')
