"""templates.fields (placeholders in plain words) and staff alert preferences, digest and absence

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fields", sa.JSON(), nullable=True))
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_new_messages", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("digest_after_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("digest_sent_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("away_from", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("away_until", gateway.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("covering_staff_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_users_covering_staff_id_staff_users"), "staff_users", ["covering_staff_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_staff_users_covering_staff_id_staff_users"), type_="foreignkey")
        for column in (
            "covering_staff_id",
            "away_until",
            "away_from",
            "digest_sent_on",
            "digest_after_hours",
            "alert_new_messages",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("fields")
