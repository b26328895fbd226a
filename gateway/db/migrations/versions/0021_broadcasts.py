"""Broadcasts: the broadcasts table, services.broadcast_approval_threshold, notifications' broadcast index

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-06 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.db.base

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None

UTC = gateway.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_by_staff_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("audience", sa.String(length=500), nullable=False),
        sa.Column("audience_spec", sa.JSON(), nullable=False),
        sa.Column("upload_enc", sa.Text(), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("message_enc", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("scheduled_for", UTC, nullable=True),
        sa.Column("approval_requested_at", UTC, nullable=True),
        sa.Column("approved_by_staff_id", sa.Uuid(), nullable=True),
        sa.Column("approved_at", UTC, nullable=True),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("left_out_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("cancelled_at", UTC, nullable=True),
        sa.Column("cancelled_by", sa.String(length=255), nullable=True),
        sa.Column("pump_token", sa.String(length=32), nullable=True),
        sa.Column("pumped_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], name=op.f("fk_broadcasts_service_id_services")),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"], ["staff_users.id"], name=op.f("fk_broadcasts_created_by_staff_id_staff_users")
        ),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], name=op.f("fk_broadcasts_api_key_id_api_keys")),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"], name=op.f("fk_broadcasts_template_id_templates")),
        sa.ForeignKeyConstraint(
            ["approved_by_staff_id"], ["staff_users.id"], name=op.f("fk_broadcasts_approved_by_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index("ix_broadcasts_service_created", "broadcasts", ["service_id", "created_at"])
    op.create_index("ix_broadcasts_status", "broadcasts", ["status"])
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("broadcast_approval_threshold", sa.Integer(), nullable=False, server_default="500")
        )
    op.create_index(
        "ix_notifications_broadcast",
        "notifications",
        ["broadcast_id", "status", "id"],
        postgresql_where=sa.text("broadcast_id IS NOT NULL"),
        sqlite_where=sa.text("broadcast_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_broadcast", table_name="notifications")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_column("broadcast_approval_threshold")
    op.drop_index("ix_broadcasts_status", table_name="broadcasts")
    op.drop_index("ix_broadcasts_service_created", table_name="broadcasts")
    op.drop_table("broadcasts")
