"""transport: enrolment codes, screen telemetry, urgent alerts (with the three seeded templates)

Revision ID: 0005_transport
Revises: 0002_manifests
Create Date: 2026-11-26 07:28:18.341064
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0005_transport'
down_revision: str | None = '0002_manifests'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alert_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('captions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_templates_key'), ['key'], unique=True)

    op.create_table('enrolment_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('enrolment_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_attempts_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolment_attempts_at'), ['at'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('captions', sa.JSON(), nullable=False),
    sa.Column('group_ids', sa.JSON(), nullable=False),
    sa.Column('screen_ids', sa.JSON(), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('launched_by', sa.Integer(), nullable=True),
    sa.Column('envelope', sa.Text(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.Integer(), nullable=True),
    sa.Column('withdrawal_version', sa.Integer(), nullable=True),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['launched_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['template_id'], ['alert_templates.id'], ),
    sa.ForeignKeyConstraint(['withdrawn_by'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_issued_at'), ['issued_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_template_id'), ['template_id'], unique=False)

    op.create_table('alert_targets',
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shown_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('frame_hash', sa.String(length=64), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['screen_id'], ['screens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alert_id', 'screen_id')
    )
    op.create_table('enrolment_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_from', sa.String(length=64), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['screen_id'], ['screens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_codes_code_hash'), ['code_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_enrolment_codes_screen_id'), ['screen_id'], unique=False)

    op.create_table('play_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('slide_id', sa.String(length=128), nullable=False),
    sa.Column('playlist_id', sa.String(length=128), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('manifest_version', sa.String(length=128), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('frame_hash', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['screen_id'], ['screens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('screen_id', 'record_id', name='uq_play_log_screen_record')
    )
    with op.batch_alter_table('play_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_play_log_screen_id'), ['screen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_play_log_slide_id'), ['slide_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_play_log_started_at'), ['started_at'], unique=False)

    op.create_table('screen_heartbeats',
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uptime_s', sa.Float(), nullable=False),
    sa.Column('manifest_version', sa.String(length=128), nullable=True),
    sa.Column('current_slide_id', sa.String(length=128), nullable=True),
    sa.Column('current_language', sa.String(length=8), nullable=True),
    sa.Column('frame_hash', sa.String(length=64), nullable=True),
    sa.Column('cache_bytes', sa.BigInteger(), nullable=False),
    sa.Column('disk_free_bytes', sa.BigInteger(), nullable=True),
    sa.Column('temperature_c', sa.Float(), nullable=True),
    sa.Column('clock_offset_s', sa.Float(), nullable=True),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['screen_id'], ['screens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('screen_id')
    )
    op.create_table('screen_presence',
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('agent_version', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['screen_id'], ['screens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('screen_id')
    )
    op.create_table('screen_screenshots',
    sa.Column('screen_id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('command_id', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('thumb_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['screen_id'], ['screens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('screen_id')
    )
    # Drafts for layout; the border guard's translators confirm the wording before go-live.
    templates = sa.table(
        "alert_templates",
        sa.column("key", sa.String), sa.column("name", sa.String),
        sa.column("captions", sa.JSON), sa.column("created_at", sa.DateTime(timezone=True)),
    )
    seeded_at = datetime(2026, 11, 26, tzinfo=UTC)
    op.bulk_insert(templates, [
        {"key": "border-closure", "name": "Border closure", "created_at": seeded_at, "captions": {
            "vi": "Cửa khẩu tạm thời đóng cửa. Đề nghị quý khách quay lại sau",
            "en": "The border gate is temporarily closed. Please come back later",
            "km": "ច្រកទ្វារព្រំដែនបិទជាបណ្ដោះអាសន្ន។ សូមត្រឡប់មកវិញនៅពេលក្រោយ"}},
        {"key": "disease-control", "name": "Disease control", "created_at": seeded_at, "captions": {
            "vi": "Kiểm dịch y tế: đề nghị quý khách khai báo y tế và đeo khẩu trang",
            "en": "Health quarantine: please complete the health declaration and wear a mask",
            "km": "ការត្រួតពិនិត្យសុខាភិបាល៖ សូមបំពេញការប្រកាសសុខភាព និងពាក់ម៉ាស់"}},
        {"key": "severe-weather", "name": "Severe weather", "created_at": seeded_at, "captions": {
            "vi": "Cảnh báo thời tiết nguy hiểm: đề nghị quý khách tìm nơi trú ẩn an toàn",
            "en": "Severe weather warning: please take shelter in a safe place",
            "km": "ការព្រមានអាកាសធាតុធ្ងន់ធ្ងរ៖ សូមស្វែងរកទីជម្រកដែលមានសុវត្ថិភាព"}},
    ])


def downgrade() -> None:
    op.drop_table('screen_screenshots')
    op.drop_table('screen_presence')
    op.drop_table('screen_heartbeats')
    with op.batch_alter_table('play_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_play_log_started_at'))
        batch_op.drop_index(batch_op.f('ix_play_log_slide_id'))
        batch_op.drop_index(batch_op.f('ix_play_log_screen_id'))

    op.drop_table('play_log')
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_codes_screen_id'))
        batch_op.drop_index(batch_op.f('ix_enrolment_codes_code_hash'))

    op.drop_table('enrolment_codes')
    op.drop_table('alert_targets')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_template_id'))
        batch_op.drop_index(batch_op.f('ix_alerts_issued_at'))
        batch_op.drop_index(batch_op.f('ix_alerts_expires_at'))

    op.drop_table('alerts')
    with op.batch_alter_table('enrolment_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_attempts_at'))
        batch_op.drop_index(batch_op.f('ix_enrolment_attempts_address'))

    op.drop_table('enrolment_attempts')
    with op.batch_alter_table('alert_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_templates_key'))

    op.drop_table('alert_templates')
