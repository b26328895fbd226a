"""Delivery: a message whose send got no answer (a timeout, a dropped connection, a worker lost mid-send)
remembers since when the provider may have taken it (`notifications.unsure_since`); before it goes again
the provider is asked (`gateway.jobs.unsure`)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unsure_since", gateway.db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("unsure_since")
