"""Broadcasts: recipients written in chunks while the first ones send; the writer's heartbeat and the
time the last chunk was written

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 06:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("writing_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("written_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
    # before this revision a broadcast's recipients were written in one transaction with its status
    op.execute(
        "UPDATE broadcasts SET written_at = COALESCE(started_at, updated_at)"
        " WHERE status NOT IN ('draft', 'awaiting_approval', 'approved')"
    )


def downgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("written_at")
        batch_op.drop_column("writing_at")
