"""Quiet hours: services.quiet_hours; notifications.automatic, send_before, quiet_override

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quiet_hours", sa.String(length=32), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("send_before", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("quiet_override", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("quiet_override")
        batch_op.drop_column("send_before")
        batch_op.drop_column("automatic")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("quiet_hours")
