"""notifications.held_for, waiting_since: messages held while their provider fails

A provider-wide failure (5xx, 429, timeout, refused connection) pauses the sender's circuit breaker
instead of using a message's attempts; the messages wait in `created` with the breaker they wait for
(`held_for`) and since when they have waited (`waiting_since`, for GATEWAY_SENDING_TIMEOUT_SECONDS).
A partial index holds only the rows waiting, so the sweeper and the release find them by sender in
acceptance order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

HELD = sa.text("status = 'created' AND held_for IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_for", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("waiting_since", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_notifications_held", ["held_for", "created_at"], postgresql_where=HELD, sqlite_where=HELD
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_held")
        batch_op.drop_column("waiting_since")
        batch_op.drop_column("held_for")
