"""delivery: claim and retry times on notifications, indexes for the sweeper

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 12:00:00

`claimed_at` is set when a delivery job claims a row (`created` -> `sending`); `next_attempt_at`
when a retryable failure puts it back to `created`. The sweeper looks rows up by status and
these times.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_notifications_status_next_attempt", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_notifications_status_claimed", ["status", "claimed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_status_claimed")
        batch_op.drop_index("ix_notifications_status_next_attempt")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("claimed_at")
