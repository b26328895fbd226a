"""notifications.rate_slot_at: the send slot a row holds under its sender's rate limit

A message that finds its sender's bucket empty is given the next free slot (by its place in that
sender's whole backlog) and waits for it; when it runs it takes no second token.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_slot_at", gateway.db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("rate_slot_at")
